"""Headless renders: the real pipeline (generator, choreography, compositor) written to frames and files."""
import json
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
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


def decode(path):
    """Every frame of a video file, decoded by PyAV: (RGB uint8 [n, H, W, 3], fps, codec name, pixel format)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        images = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return np.stack(images), float(stream.average_rate), stream.codec_context.name, stream.codec_context.pix_fmt


def ffprobe(path):
    """What FFmpeg's own command-line tool says about the first video stream."""
    result = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                             "stream=codec_name,profile,pix_fmt,width,height,avg_frame_rate,nb_read_frames",
                             "-of", "json", str(path)], capture_output=True, text=True, timeout=60, check=True)
    return json.loads(result.stdout)["streams"][0]


VIDEOS = {"show.mp4": ((224, 160), "h264", "yuv420p", "High"),
          "show.mov": ((224, 161), "prores", "yuv422p10le", "HQ")}       # 4:2:2 takes an odd height


@pytest.fixture(scope="module")
def videos(generator, tmp_path_factory):
    """Each video format written once: {name: (path, Written)}, in a folder of its own."""
    written = {}
    for name, (size, *_) in VIDEOS.items():
        folder = tmp_path_factory.mktemp(name.replace(".", "-"))
        written[name] = (folder / name, render.render(settings(), generator, render.plan(folder / name, size, 1.0, 10),
                                                      seed=2))
    return written


@pytest.mark.parametrize("name", VIDEOS)
def test_video_is_written_and_reads_back(generator, videos, name):
    out, written = videos[name]
    size, codec, pix_fmt, _ = VIDEOS[name]
    assert written == render.Written(10, size, 10.0)
    images, fps, read_codec, read_pix_fmt = decode(out)
    assert images.shape == (10, size[1], size[0], 3) and fps == 10.0
    assert (read_codec, read_pix_fmt) == (codec, pix_fmt)
    assert [p.name for p in out.parent.iterdir()] == [name]              # no temporary file left behind
    # Lossy codecs (and tiny noisy tiles are their worst case): the frame read back must still be the rendered
    # picture, tile for tile, and not another show's.
    truth = frames(generator, settings(), size=size, seconds=1.0, seed=2)[5]
    other = frames(generator, settings(), size=size, seconds=1.0, seed=3)[5]
    back = images[5]
    gutters = np.all(truth == GREEN, axis=2)[..., None]
    assert np.abs(back.astype(np.int16) - GREEN)[gutters[..., 0]].mean() < 24     # the grid is there
    colours = lambda image: tiles(np.where(gutters, truth, image)).mean(axis=(1, 2)).ravel()   # noqa: E731
    assert np.corrcoef(colours(back), colours(truth))[0, 1] > 0.9
    assert np.corrcoef(colours(back), colours(other))[0, 1] < 0.7


@pytest.mark.skipif(shutil.which("ffprobe") is None,
                    reason="ffprobe is not installed (apt-get install ffmpeg): PyAV's read-back above still checks")
@pytest.mark.parametrize("name", VIDEOS)
def test_ffprobe_reads_what_was_written(videos, name):
    out, _ = videos[name]
    size, codec, pix_fmt, profile = VIDEOS[name]
    probed = ffprobe(out)
    assert (probed["codec_name"], probed["profile"], probed["pix_fmt"]) == (codec, profile, pix_fmt)
    assert (probed["width"], probed["height"], probed["avg_frame_rate"]) == (*size, "10/1")
    assert probed["nb_read_frames"] == "10"


def test_png_folder(generator, tmp_path):
    written = render.render(settings(), generator, render.plan(tmp_path / "frames", (97, 61), 0.3, 10), seed=2)
    assert written.frames == 3 and written.size == (97, 61)                     # PNG takes any size
    names = sorted(p.name for p in (tmp_path / "frames").iterdir())
    assert names == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    assert cv2.imread(str(tmp_path / "frames" / names[-1])).shape == (61, 97, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]


def test_a_render_stopped_midway_leaves_nothing(generator, tmp_path):
    def stop(done):
        if done == 3:
            raise KeyboardInterrupt
    for name in ("show.mp4", "show.mov", "frames"):
        with pytest.raises(KeyboardInterrupt):
            render.render(settings(), generator, render.plan(tmp_path / name, (96, 96), 1.0, 10), seed=2,
                          progress=stop)
    assert list(tmp_path.iterdir()) == []


def run_render(tmp_path, capsys, *args):
    """`python -m exhibit render ...` in this process, with a corrupt model: an error about the render's limits
    rather than the model shows that the limits were checked before any model loaded."""
    bad = tmp_path / "broken.keras"
    bad.write_bytes(b"PK\x03\x04 this is not really a zip archive")
    from exhibit.__main__ import main
    code = main(["render", "--model", str(bad), *args])
    lines = capsys.readouterr().err.strip().splitlines()
    return code, lines


@pytest.mark.parametrize("args, expected", [
    (["--out", "show.mp4", "--size", "1001x563"],
     "--size 1001x563: H.264 (yuv420p) needs an even width and height (4:2:0 colour); pad to --size 1002x564, "
     "or render a folder of PNG frames (any size)"),
    (["--out", "show.mp4", "--size", "1000x563"], "pad to --size 1000x564, or .mov (ProRes 4:2:2 takes an odd"),
    (["--out", "show.mov", "--size", "321x240"], "ProRes 422 HQ (yuv422p10le) needs an even width"),
    (["--out", "show.mp4", "--size", "16384x16384"], "larger than H.264 (yuv420p) allows (at most 8192 px a side"),
    (["--out", "frames", "--fps", "0", "--seconds", "2", "--size", "320x240"],
     "--fps 0: the frame rate must be more than 0"),
    (["--out", "show.mp4", "--fps", "-5"], "--fps -5: the frame rate must be more than 0"),
    (["--out", "show.mp4", "--seconds", "-1"], "--seconds -1: the length must be more than 0 seconds"),
    (["--out", "show.mp4", "--seconds", "0.01", "--fps", "10"], "is less than one frame"),
    (["--out", "show.gif"], "render cannot write '.gif' files; use .mp4 (H.264), .mov (ProRes 422 HQ) or a folder"),
    (["--out", "show.avi"], "render cannot write '.avi' files"),
    (["--out", "show.mov", "--crf", "20"], "--crf sets H.264 quality: it applies to .mp4 only"),
    (["--out", "show.mp4", "--crf", "60"], "--crf 60: H.264 quality runs from 0 (best) to 51"),
])
def test_a_limit_is_named_in_one_line_before_the_model_loads(tmp_path, capsys, monkeypatch, args, expected):
    monkeypatch.chdir(tmp_path)
    code, lines = run_render(tmp_path, capsys, *args)
    assert code == 2
    assert lines[-1].startswith("exhibit: error: ") and expected in lines[-1], lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.keras"]          # nothing written


def test_an_unwritable_folder_is_named(tmp_path, capsys):
    if os.geteuid() == 0:             # permission bits do not stop root; a kernel file system does
        folder, culprit = Path("/sys/medium-permeation-render"), "/sys"
    else:
        folder = culprit = tmp_path / "locked"
        folder.mkdir()
        folder.chmod(0o500)
    code, lines = run_render(tmp_path, capsys, "--out", str(folder / "show.mp4"))
    assert code == 2
    assert lines[-1].startswith(f"exhibit: error: {folder / 'show.mp4'}: cannot write in {culprit} (")
    assert lines[-1].endswith("choose another --out")


def test_an_existing_file_is_kept_unless_overwrite(generator, tmp_path, capsys):
    out = tmp_path / "show.mp4"
    out.write_bytes(b"an earlier cut")
    code, lines = run_render(tmp_path, capsys, "--out", str(out))
    assert code == 2
    assert lines[-1] == f"exhibit: error: {out}: already exists; add --overwrite to replace it, or choose another --out"
    assert out.read_bytes() == b"an earlier cut"
    render.render(settings(), generator, render.plan(out, (64, 64), 0.2, 10, overwrite=True), seed=2)
    assert decode(out)[0].shape == (2, 64, 64, 3)
    folder = tmp_path / "frames"
    render.render(settings(), generator, render.plan(folder, (64, 64), 0.3, 10), seed=2)
    with pytest.raises(render.RenderError, match="already holds frames; add --overwrite"):
        render.plan(folder, (64, 64), 0.2, 10)
    render.render(settings(), generator, render.plan(folder, (64, 64), 0.2, 10, overwrite=True), seed=2)
    assert len(list(folder.iterdir())) == 2                  # the earlier render's third frame is gone too
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(render.RenderError, match="holds other files"):
        render.plan(folder, (64, 64), 0.2, 10, overwrite=True)


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


@pytest.mark.parametrize("mode", ["drift", "wave", "unison"])
def test_a_loop_has_no_seam(generator, mode):
    # 2.5 s of show with 1 s keyframes: the walks are stretched to 2 or 3 keyframes that close on themselves.
    cfg = config.load(overrides={"show": {"mode": mode, "keyframe_seconds": 1.0, "fade_in": 2.0},
                                 "render": {"tile_rate": 4.0}, "grid": {"rows": 6, "cols": 6}})

    def shown(loop):
        return [render.pixels(s).astype(np.int16) for _, s in
                render.frames(cfg, generator, (96, 96), 2.5, 8, seed=4, loop=loop)]

    def seam_and_steps(images):
        steps = [np.abs(a - b).mean() for a, b in zip(images, images[1:])]
        return np.abs(images[-1] - images[0]).mean(), steps

    seam, steps = seam_and_steps(shown(loop=True))
    assert min(steps) > 0.05, "the picture should move"
    assert seam <= max(steps), f"the seam (frame N-1 to frame 0) jumps {seam:.2f}; frames step at most {max(steps):.2f}"
    # Without --loop the same render has a seam (and a fade in): the comparison above can fail.
    open_seam, open_steps = seam_and_steps(shown(loop=False))
    assert open_seam > 2 * max(open_steps[len(open_steps) // 2:])


def test_ntsc_rates_are_stored_as_editors_expect(generator, tmp_path):
    out = tmp_path / "show.mov"
    written = render.render(settings(), generator, render.plan(out, (64, 64), 0.2, 29.97), seed=2)
    assert written.frames == 6 and written.fps == pytest.approx(30000 / 1001, abs=1e-9)
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == Fraction(30000, 1001)
    assert render.plan(tmp_path / "a.mp4", (64, 64), 1, 23.976).rate == Fraction(24000, 1001)
    assert render.plan(tmp_path / "a.mp4", (64, 64), 1, 12.5).rate == Fraction(25, 2)


@pytest.mark.slow
def test_the_command_says_what_it_will_write_and_reports_what_it_wrote(tmp_path):
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-m", "exhibit", "render", "--out", "show.mp4", "--size", "128x72",
                             "--seconds", "0.4", "--fps", "10", "--seed", "3", "--set", "grid.rows=2",
                             "--set", "grid.cols=2"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr
    assert "render: 4 frames (0.4 s at 10 fps), 128x72, H.264 (yuv420p), crf 18, about " in result.stderr
    assert "in all (estimated from the first 3 frames)" in result.stderr
    assert "render: 4/4 frames" in result.stderr                 # plain progress lines: stderr is not a terminal
    assert result.stdout.strip() == "wrote 4 frames (128x72, 10 fps, seed 3) to show.mp4"
    images, fps, codec, _ = decode(tmp_path / "show.mp4")
    assert images.shape == (4, 72, 128, 3) and fps == 10.0 and codec == "h264"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["show.mp4"]
