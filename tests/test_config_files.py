"""Settings files as editors save them: both the exhibit and the trainer read the same bytes the same way."""
import subprocess
import sys
from pathlib import Path

import pytest

from exhibit import config as exhibit_config
from train import config as train_config

ROOT = Path(__file__).resolve().parent.parent

EXHIBIT = '# my show\n[show]\nmode = "wave"   # spreads from the centre\nspeed = 2.0\n[grid]\nrows = 7 # fewer'
TRAIN = '# a quick run\n[train]\nsteps = 123   # short\nbatch_size = 8\n[data]\nmin_images = 4 # few'


def load_exhibit(path):
    loaded = exhibit_config.load(path)
    return loaded.show.mode, loaded.show.speed, loaded.grid.rows


def load_train(path):
    loaded = train_config.load_config(path)
    return loaded["train"]["steps"], loaded["train"]["batch_size"], loaded["data"]["min_images"]


LOADERS = {"exhibit": (EXHIBIT, load_exhibit, ("wave", 2.0, 7)),
           "train": (TRAIN, load_train, (123, 8, 4))}
ERRORS = {"exhibit": exhibit_config.ConfigError, "train": train_config.ConfigError}

# How editors save: the last line is a comment without a newline in every case.
SAVED = {
    "utf-8": lambda text: text.encode("utf-8"),
    "utf-8 with BOM (Notepad)": lambda text: b"\xef\xbb\xbf" + text.encode("utf-8"),
    "CRLF": lambda text: text.replace("\n", "\r\n").encode("utf-8"),
    "BOM and CRLF": lambda text: b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"),
    "old Mac CR": lambda text: text.replace("\n", "\r").encode("utf-8"),
    "non-ASCII comment": lambda text: ("# Größe, café, 東京\n" + text).encode("utf-8"),
}


@pytest.mark.parametrize("saved", SAVED)
@pytest.mark.parametrize("which", LOADERS)
def test_files_as_editors_save_them_are_read(tmp_path, which, saved):
    text, load, expected = LOADERS[which]
    path = tmp_path / "settings.toml"
    path.write_bytes(SAVED[saved](text))
    assert load(path) == expected


# Other encodings: one line that names the encoding problem and says to save as UTF-8.
REFUSED = {
    "UTF-16 with BOM": (lambda text: text.encode("utf-16"), "UTF-16"),
    "UTF-16 without BOM": (lambda text: text.encode("utf-16-le"), "UTF-16"),
    "UTF-32": (lambda text: text.encode("utf-32"), "UTF-32"),
    "Latin-1": (lambda text: ("# caf\u00e9\n" + text).encode("latin-1"), "not UTF-8 text (byte 0xe9 at line 1, "
                                                                          "column 6; perhaps Latin-1"),
}


@pytest.mark.parametrize("encoding", REFUSED)
@pytest.mark.parametrize("which", LOADERS)
def test_another_encoding_is_named_in_one_line(tmp_path, which, encoding):
    text, load, _ = LOADERS[which]
    encode, expected = REFUSED[encoding]
    path = tmp_path / "settings.toml"
    path.write_bytes(encode(text))
    with pytest.raises(ERRORS[which]) as caught:
        load(path)
    message = str(caught.value)
    assert expected in message and "save it as UTF-8" in message and str(path) in message
    assert "\n" not in message


@pytest.mark.parametrize("which", LOADERS)
def test_missing_file_and_bad_toml_still_named(tmp_path, which):
    _, load, _ = LOADERS[which]
    with pytest.raises(ERRORS[which], match="no such config file"):
        load(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_bytes(b"\xef\xbb\xbf[show\r\n")
    with pytest.raises(ERRORS[which], match=r"not valid TOML \(.*line 1"):
        load(broken)


def test_exhibit_command_line_names_the_encoding(tmp_path):
    path = tmp_path / "show.toml"
    path.write_bytes(EXHIBIT.encode("utf-16"))
    result = subprocess.run([sys.executable, "-m", "exhibit", "render", "--out", str(tmp_path / "x.mp4"),
                             "--config", str(path)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        f"exhibit: error: {path}: the file is UTF-16 text, not UTF-8; save it as UTF-8 (in the editor's Save As, "
        f"choose the encoding UTF-8)")
