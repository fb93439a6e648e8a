"""Headless renders: the real pipeline (generator, choreography, compositor) written to frames and files."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import model
from exhibit import commands as c
from exhibit import config, render

ROOT = Path(__file__).resolve().parent.parent
GREEN = (0, 255, 0)


@pytest.fixture(scope="module")
def generator():
    return model.new_generator(64, seed=1, width=32)


def settings(**show):
    return config.load(overrides={"show": {"fade_in": 0.0, **show}, "render": {"tile_rate": 2.0},
                                  "grid": {"background": "#00ff00", "gutter": 0.1}})


def frames(generator, cfg, size=(448, 448), seconds=1.5, fps=10, seed=5, commands=()):
    return [render.pixels(s).copy() for _, s in render.frames(cfg, generator, size, seconds, fps, seed, commands)]


@pytest.fixture(scope="module")
def shown(generator):
    return frames(generator, settings())


def tiles(image):
    """The tile images of a frame, found from its gutters: float32 [n, h, w, 3]."""
    background = np.all(image == GREEN, axis=2)
    cols, rows = runs(~background.all(axis=0)), runs(~background.all(axis=1))
    return np.stack([image[y:y + h, x:x + w].astype(np.float32) for y, h in rows for x, w in cols])


def runs(mask):
    """[(start, length)] of consecutive True values."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b - a)) for a, b in zip(edges[::2], edges[1::2])]


def test_the_grid_is_14_by_14_with_even_gutters_centred(shown):
    image = shown[-1]
    background = np.all(image == GREEN, axis=2)
    for axis in (0, 1):                                     # columns, then rows
        gutter = background.all(axis=axis)                   # a line with nothing but background
        tiles = runs(~gutter)
        assert len(tiles) == 14
        assert len({length for _, length in tiles}) == 1     # equal tiles
        gaps = {b[0] - (a[0] + a[1]) for a, b in zip(tiles, tiles[1:])}
        assert len(gaps) == 1 and gaps.pop() >= 1            # equal gutters between them
        before, after = tiles[0][0], len(gutter) - (tiles[-1][0] + tiles[-1][1])
        assert abs(before - after) <= 1                      # centred
    assert not background[tiles[0][0] + 2, tiles[0][0] + 2]  # inside a tile there is a picture


def test_pixels_change_gradually(shown):
    changes = [np.abs(a.astype(np.int16) - b).max() for a, b in zip(shown, shown[1:])]
    means = [np.abs(a.astype(np.int16) - b).mean() for a, b in zip(shown, shown[1:])]
    assert min(means) > 0.01, "the picture should move"
    assert max(changes) <= 40, f"a jump between frames: {max(changes)} of 255"


def test_same_seed_same_frames_other_seed_other_frames(generator, shown):
    again = frames(generator, settings())
    assert all(np.array_equal(a, b) for a, b in zip(shown, again))
    other = frames(generator, settings(), seconds=0.1, seed=6)
    assert not np.array_equal(shown[0], other[0])


def test_mode_change_blends_into_unison(generator):
    cfg = config.load(overrides={"show": {"fade_in": 0.0, "blend_seconds": 3.0}, "render": {"tile_rate": 4.0},
                                 "grid": {"background": "#00ff00", "gutter": 0.1}})
    shown = frames(generator, cfg, size=(224, 224), seconds=4.0, fps=12, commands=[(0.5, c.SetMode("unison"))])
    whole = np.abs(shown[-1].astype(np.int16) - shown[0]).mean()
    steps = [np.abs(a.astype(np.int16) - b).mean() for a, b in zip(shown, shown[1:])]
    assert max(steps) < 0.1 * whole, "a cut: one frame carries much of the change"

    def spread(image):
        t = tiles(image)
        return np.abs(t - t.mean(axis=0)).mean()

    assert spread(shown[-1]) < 0.5 * spread(shown[0])      # unison: the tiles now look alike


def test_mp4_is_written_and_reads_back(generator, tmp_path):
    out = tmp_path / "show.mp4"
    count = render.render(settings(), generator, out, (224, 160), 1.0, 10, seed=2)
    assert count == 10
    video = cv2.VideoCapture(str(out))
    read = []
    while True:
        ok, frame = video.read()
        if not ok:
            break
        read.append(frame)
    video.release()
    assert len(read) == 10 and read[0].shape == (160, 224, 3)
    # MPEG-4 is lossy (and tiny noisy tiles are its worst case): the frame read back must still be the rendered
    # picture, tile for tile, and not another show's.
    truth = frames(generator, settings(), size=(224, 160), seconds=1.0, seed=2)[5]
    other = frames(generator, settings(), size=(224, 160), seconds=1.0, seed=3)[5]
    back = cv2.cvtColor(read[5], cv2.COLOR_BGR2RGB)
    gutters = np.all(truth == GREEN, axis=2)[..., None]
    assert np.abs(back.astype(np.int16) - GREEN)[gutters[..., 0]].mean() < 24     # the grid is there
    colours = lambda image: tiles(np.where(gutters, truth, image)).mean(axis=(1, 2)).ravel()   # noqa: E731
    assert np.corrcoef(colours(back), colours(truth))[0, 1] > 0.85
    assert np.corrcoef(colours(back), colours(other))[0, 1] < 0.7


def test_png_folder(generator, tmp_path):
    render.render(settings(), generator, tmp_path / "frames", (96, 96), 0.3, 10, seed=2)
    written = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert written == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]


@pytest.mark.parametrize("command", [["render", "--out", "unused.mp4"], ["--windowed"]])
def test_corrupt_model_file_is_named_in_one_clear_error(tmp_path, command):
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "exhibit", *command, "--model", str(bad)], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("exhibit: error: ") and str(bad) in last
    assert not (tmp_path / "unused.mp4").exists()
