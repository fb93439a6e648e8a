"""Which bundled generator the show picks for a screen: the one that fits its tiles, unless model.path says."""
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Runs in a fresh process, as the show does, so it can also check that choosing never imported TensorFlow.
CHOOSE = """
import json, logging, sys
logging.basicConfig(level=logging.INFO, format="exhibit: %(message)s")
import model
from exhibit import config as settings
from exhibit.__main__ import model_path
folder, sizes, path = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
bundled = model.bundled_generators(folder)
config = settings.load(None, {"model": {"path": path}} if path else {})
picked = [model_path(config, tuple(size), bundled).name for size in sizes]
assert "tensorflow" not in sys.modules and "keras" not in sys.modules, "TensorFlow was imported"
print(json.dumps({"bundled": sorted(bundled), "picked": picked}))
"""


def choose(folder, sizes, path=""):
    result = subprocess.run([sys.executable, "-c", CHOOSE, str(folder), json.dumps(sizes), path], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1]), result.stderr


def test_the_bundled_model_that_covers_the_tiles_is_picked(tmp_path):
    for name in ("default-64.keras", "default-128.keras", "default-256.keras", "default-new.keras", "other.keras"):
        (tmp_path / name).write_bytes(b"")   # the choice reads names only; loading checks the files
    report, log = choose(tmp_path, [[1280, 720], [1920, 1080], [2560, 1440], [3840, 2160], [7680, 4320],
                                    [15360, 8640]])
    assert report["bundled"] == [64, 128, 256]
    # Tiles of 44, 67, 89, 134, 269 and 538 px with the default 14x14 grid.
    assert report["picked"] == ["default-64.keras", "default-64.keras", "default-128.keras", "default-128.keras",
                                "default-256.keras", "default-256.keras"]
    assert "default-128.keras (the smallest bundled one that covers the 89 px tiles at 2560x1440" in log
    assert "default-256.keras (the largest bundled one, for the 538 px tiles at 15360x8640" in log


def test_only_a_64_px_model_is_bundled_it_is_used_everywhere(tmp_path):
    (tmp_path / "default-64.keras").write_bytes(b"")
    report, _ = choose(tmp_path, [[800, 600], [3840, 2160]])
    assert report["picked"] == ["default-64.keras", "default-64.keras"]


def test_model_path_overrides_the_choice(tmp_path):
    (tmp_path / "default-128.keras").write_bytes(b"")
    report, log = choose(tmp_path, [[3840, 2160]], path=str(tmp_path / "mine.keras"))
    assert report["picked"] == ["mine.keras"] and "(model.path)" in log
