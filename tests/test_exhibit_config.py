"""Config: the shipped file documents every key, and a bad file stops the show with a message naming the key."""
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from exhibit import config

ROOT = Path(__file__).resolve().parent.parent


def test_shipped_file_lists_every_key_with_its_default():
    shipped = tomllib.loads((ROOT / "configs" / "exhibit.toml").read_text(encoding="utf-8"))
    assert shipped == config.defaults()


def test_defaults_load():
    loaded = config.load(ROOT / "configs" / "exhibit.toml")
    assert (loaded.grid.rows, loaded.grid.cols) == (14, 14)
    assert loaded.grid.background == (10, 10, 12)


def write(tmp_path, text):
    path = tmp_path / "exhibit.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unknown_key_names_the_key_and_the_allowed_keys(tmp_path):
    with pytest.raises(config.ConfigError) as caught:
        config.load(write(tmp_path, "[show]\nspeeed = 2\n"))
    message = str(caught.value)
    assert "speeed" in message and "keyframe_seconds" in message and "exhibit.toml" in message


def test_unknown_section(tmp_path):
    with pytest.raises(config.ConfigError, match=r"\[gird\].*allowed sections: display, grid"):
        config.load(write(tmp_path, "[gird]\nrows = 3\n"))


@pytest.mark.parametrize("text, expected", [
    ('[show]\nmode = "spin"\n', "allowed values: drift, wave, unison, hold"),
    ("[grid]\nrows = 0\n", "rows = 0: allowed values: an integer in 1..64"),
    ("[grid]\nrows = 2.5\n", "must be an integer"),
    ('[grid]\nbackground = "red"\n', "#rrggbb"),
    ("[show]\npsi = nan\n", "psi"),
    ('[osc]\nallow = ["10.0.0.0/33"]\n', "not a network"),
    ('[display]\nwindow_size = [640]\n', "[width, height]"),
    ("[show]\nseed = -1\n", '"random" or an integer'),
    ("[show\n", "not valid TOML"),
])
def test_bad_value_names_the_key_and_what_is_allowed(tmp_path, text, expected):
    with pytest.raises(config.ConfigError) as caught:
        config.load(write(tmp_path, text))
    assert expected in str(caught.value)
    assert "\n" not in str(caught.value)


def test_overrides_beat_the_file(tmp_path):
    path = write(tmp_path, '[show]\nmode = "wave"\nspeed = 2.0\n')
    loaded = config.load(path, {"show": {"mode": "unison"}})
    assert loaded.show.mode == "unison" and loaded.show.speed == 2.0
    assert config.parse_override("show.speed=0.5") == ("show", "speed", 0.5)
    assert config.parse_override("show.mode=wave") == ("show", "mode", "wave")


def test_command_line_reports_a_bad_override_and_exits_2():
    result = subprocess.run([sys.executable, "-m", "exhibit", "render", "--out", "unused.mp4",
                             "--set", "show.mode=spin"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "[show] mode = 'spin': allowed values: drift, wave, unison, hold" in result.stderr


def readme_config_table():
    """{section.key: default as written} from the README's configuration table."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### Configuration", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(\w+\.\w+)` \| `(.+?)` \|", section, flags=re.MULTILINE)
    return dict(rows)


def test_readme_table_lists_every_key_with_its_default():
    table = readme_config_table()
    schema = {f"{section}.{name}": value for section, keys in config.defaults().items() for name, value in keys.items()}
    assert sorted(table) == sorted(schema), "README's config table and the schema list different keys"
    for key, written in table.items():
        assert tomllib.loads(f"v = {written}")["v"] == schema[key], f"README: {key} = {written}, the schema says " \
                                                                     f"{schema[key]!r}"


def test_limits_come_from_the_command_vocabulary(tmp_path):
    """The config accepts exactly what the Commands accept: one cap, checked in both places."""
    from exhibit import commands

    for key, cap in (("speed", commands.MAX_SPEED), ("psi", commands.MAX_PSI),
                     ("brightness", commands.MAX_BRIGHTNESS)):
        assert getattr(config.load(write(tmp_path, f"[show]\n{key} = {cap}\n")).show, key) == cap
        with pytest.raises(config.ConfigError, match=f"{key} = {cap + 0.5}"):
            config.load(write(tmp_path, f"[show]\n{key} = {cap + 0.5}\n"))
    for mode in commands.MODES:
        assert config.load(write(tmp_path, f'[show]\nmode = "{mode}"\n')).show.mode == mode
