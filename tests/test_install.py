"""The project installs (`pip install .`) and runs from any folder, with its shipped files found inside the install."""
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_for_the_install():
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(init.parent.relative_to(ROOT).parts) for top in ("model", "exhibit", "train")
             for init in (ROOT / top).rglob("__init__.py")}
    assert found == {p for p in listed if not p.startswith("model.shipped")}


def test_the_data_folder_is_the_platforms_unless_the_config_names_one(tmp_path):
    from exhibit import config
    paths = config.load().paths
    assert Path(paths.data) == config.data_folder() and Path(paths.state) == Path(paths.data) / "state.json"
    assert Path(paths.data).is_relative_to(os.environ["XDG_DATA_HOME"])   # tests never touch the user's own
    paths = config.load(overrides={"paths": {"data": str(tmp_path), "screenshots": "/srv/shots"}}).paths
    assert (paths.models, paths.scenes, paths.screenshots) == (str(tmp_path / "models"),
                                                                str(tmp_path / "scenes.json"), "/srv/shots")


@pytest.mark.slow
def test_installed_it_runs_from_another_folder(tmp_path):
    source = tmp_path / "source"          # a copy: building writes build/ next to pyproject.toml
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "tests", "runs", "sample_data", "default-model", "*.png", "__pycache__", "build"))
    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(source)], check=True, timeout=600)
    shutil.rmtree(source)                 # nothing may come from the checkout any more
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy",
           "PYGAME_HIDE_SUPPORT_PROMPT": "1"}

    def run(*command):
        return subprocess.run(command, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)

    where = run(sys.executable, "-c", "import exhibit.config as c, model; from exhibit.screen.overlays import "
                "NAMES_FILE; print(model.default_generator_path(), c.DEFAULT_FILE, NAMES_FILE, sep='\\n')")
    files = [Path(line) for line in where.stdout.split()]
    assert len(files) == 3 and all(f.is_file() and f.is_relative_to(target) for f in files), where
    helped = run(str(target / "bin" / "permeation-exhibit"), "--help")
    assert helped.returncode == 0 and "usage: permeation-exhibit" in helped.stdout, helped.stderr
    assert run(str(target / "bin" / "permeation-train"), "--help").returncode == 0
    rendered = run(sys.executable, "-m", "exhibit", "render", "--out", "frames", "--seconds", "0.4", "--fps", "5",
                   "--size", "160x120", "--seed", "3")
    assert rendered.returncode == 0, rendered.stderr[-2000:]
    assert len(list((elsewhere / "frames").glob("*.png"))) == 2
    assert "untrained" not in rendered.stderr                     # the shipped model was found and drawn
