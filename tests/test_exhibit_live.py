"""The live loop on a real (dummy-driver) pygame display: it never waits for generation, and commands reach it."""
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pygame
import pytest

import model
from exhibit import commands as c
from exhibit import config
from exhibit.live import App
from exhibit.screen.display import Display
from exhibit.render import pixels

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def generator():
    return model.new_generator(64, seed=1, width=32)


class SlowGenerator:
    """A generator that takes `delay` seconds per batch, as an overloaded or huge model would."""

    def __init__(self, inner, delay):
        self.inner, self.delay = inner, delay
        self.z_dim, self.resolution, self.metadata, self.name = inner.z_dim, inner.resolution, {}, "slow"

    def generate(self, z, psi=1.0, noise=None):
        time.sleep(self.delay)
        return self.inner.generate(z, psi, noise)

    def close(self):
        pass                      # the inner generator is the module's, shared with other tests


def live(tmp_path, **sections):
    base = {"display": {"fullscreen": False, "window_size": [320, 240], "fps": 30},
            "show": {"fade_in": 0.0, "fade_out": 0.3}, "osc": {"enabled": False},
            "paths": {"screenshots": str(tmp_path / "shots"), "models": str(tmp_path / "models"),
                      "scenes": str(tmp_path / "scenes.json")}}
    for section, values in sections.items():
        base.setdefault(section, {}).update(values)
    return config.load(overrides=base)


def test_a_slow_generator_does_not_lower_the_frame_rate(tmp_path, generator):
    assert isinstance(SlowGenerator(generator, 1.0), model.ImageGenerator)
    cfg = live(tmp_path, worker={"batch": 196})
    display = Display(cfg.display)
    app = App(cfg, SlowGenerator(generator, 1.0), display, seed=1)
    shown, changes = [], []

    def on_frame(app, now):
        if app.stage.ready():
            image = pixels(app.display.surface).astype(np.int16)
            if shown:
                changes.append(np.abs(image - shown[-1]).max())
            shown.append(image)
        # Until three batches came in, however long a batch takes on this machine (at least six seconds), and the
        # picture moved on from its first frame: frames are filed ahead of the show by about a batch's duration, so
        # when the first batch was slow the first picture is rightly held that long.
        if now < 6.0 or app.worker.generated < 3 * 196:
            return True
        return np.abs(shown[-1] - shown[0]).mean() <= 0.05

    try:
        app.run(seconds=120.0, on_frame=on_frame)
    finally:
        display.close()
    intervals = list(app.frame_times)
    assert 1 / np.median(intervals) > 27, "the loop should hold 30 fps while a batch takes a second or more"
    assert app.worker.generated >= 3 * 196                  # new frames kept arriving ...
    assert len(shown) > 60 and max(changes) <= 40           # ... and faded in, never jumped
    assert np.abs(shown[-1] - shown[0]).mean() > 0.05        # the picture moved (a frozen one gives 0)


def test_on_frame_ends_the_run_with_any_false_value(tmp_path, generator):
    """A script's on_frame may answer with a numpy comparison: numpy's False ends the run as False does."""
    cfg = live(tmp_path)
    for answer in (lambda app: np.int64(app.frames) < 3, lambda app: app.frames < 3):
        display = Display(cfg.display)
        app = App(cfg, generator, display, seed=1)
        try:
            app.run(seconds=10.0, on_frame=lambda app, now: answer(app))
        finally:
            display.close()
        assert app.frames == 3


def test_commands_from_another_thread_apply_and_report(tmp_path, generator):
    cfg = live(tmp_path)
    display = Display(cfg.display)
    app = App(cfg, generator, display, seed=1)
    seen = []
    app.on_change.append(seen.append)
    models = tmp_path / "models"
    models.mkdir()
    model.save_generator(model.new_generator(64, seed=2, width=32).network, models / "other.keras")

    def play():
        time.sleep(1.0)
        for command in (c.SetMode("unison"), c.SetSpeed(2.5), c.ToggleStatus(), c.ToggleHelp(), c.SetCaptions(1),
                        c.ReseedTile(400), c.Screenshot(), c.LoadModel("missing.keras"), c.LoadModel("other")):
            app.queue.put(command)
        deadline = time.monotonic() + 180             # the model loads in a generator process of its own
        while time.monotonic() < deadline and not any(s.get("model") == "other" for s in seen):
            time.sleep(0.2)
        quit_at.append(time.perf_counter())
        app.queue.put(c.Quit())

    quit_at = []
    threading.Thread(target=play, daemon=True).start()
    try:
        app.run(seconds=200.0)
    finally:
        display.close()
    assert quit_at and time.perf_counter() - quit_at[0] < 10, "Quit should end the show after its fade"
    final = seen[-1]
    assert final["mode"] == "unison" and final["speed"] == 2.5 and final["captions"] and final["status"]
    assert final["model"] == "other"
    assert [p.suffix for p in (tmp_path / "shots").iterdir()] == [".png"]
    shot = pygame.image.load(str(next((tmp_path / "shots").iterdir())))
    assert shot.get_size() == (320, 240)


@pytest.mark.parametrize("driver", ["x11", None], ids=["x11", "sdl-default"])
def test_no_display_gives_a_message_that_says_what_to_do(tmp_path, driver):
    """With no screen, SDL either fails (x11) or silently falls back to drawing into memory (its default choice
    on a headless machine): both must end in the same clear message, never a blank show or a crash."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    env.update(PYTHONPATH=str(ROOT))
    if driver:
        env["SDL_VIDEODRIVER"] = driver
    result = subprocess.run([sys.executable, "-m", "exhibit", "--no-osc"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 2
    last = result.stderr.strip().splitlines()[-1]
    assert "no display" in last and "--windowed" in last and "render" in last


def until_every_tile_shown(seconds=0.5):
    """An on_frame that ends the run once every tile has had a frame on screen for `seconds` (a loaded machine
    generates slowly, so a fixed run time would catch some tiles still empty)."""
    since = []

    def on_frame(app, now):
        if app.stage.ready():
            since.append(now)
            return now - since[0] < seconds
    return on_frame


def test_gpu_renderer_draws_the_same_grid(tmp_path, generator):
    """The SDL-renderer path (in software here: the dummy driver has no GPU) lays out the grid like the CPU path."""
    from exhibit.screen.gpu import GpuDisplay

    pictures = {}
    for kind in ("cpu", "gpu"):
        cfg = live(tmp_path, display={"renderer": kind}, grid={"background": "#00ff00"})
        display = GpuDisplay(cfg.display, require_hardware=False) if kind == "gpu" else Display(cfg.display)
        app = App(cfg, generator, display, seed=1)
        try:
            app.run(seconds=60, on_frame=until_every_tile_shown())
            pictures[kind] = pixels(display.picture()).copy()
        finally:
            display.close()
    green = {kind: np.all(picture == (0, 255, 0), axis=2) for kind, picture in pictures.items()}
    assert green["cpu"].mean() > 0.2 and np.array_equal(green["cpu"].all(axis=0), green["gpu"].all(axis=0))
    assert np.array_equal(green["cpu"].all(axis=1), green["gpu"].all(axis=1))
    inside = ~green["cpu"]
    assert np.abs(pictures["cpu"].astype(int) - pictures["gpu"])[inside].mean() < 40   # same tiles, other scaler


@pytest.mark.parametrize("light", [0.5, 1.5])
def test_both_renderers_light_gutters_and_margins_as_the_tiles(tmp_path, generator, light):
    """Brightness is the whole picture's gain, on either renderer: a grey background turns the same grey under it,
    in the margins and in the gutters between tiles alike (lit once, not twice, and not left out above 1)."""
    from exhibit.screen.compositor import Layout
    from exhibit.screen.gpu import GpuDisplay

    for kind in ("cpu", "gpu"):
        cfg = live(tmp_path, display={"renderer": kind}, grid={"background": "#808080"}, show={"brightness": light})
        display = GpuDisplay(cfg.display, require_hardware=False) if kind == "gpu" else Display(cfg.display)
        app = App(cfg, generator, display, seed=1)
        try:
            app.run(seconds=60, on_frame=until_every_tile_shown())
            picture = pixels(display.picture()).copy()
        finally:
            display.close()
        g = cfg.grid
        layout = Layout.fit(picture.shape[1::-1], g.rows, g.cols, g.gutter, g.margin)
        gutter = layout.position(1)[0] - layout.gap, layout.y0 + layout.tile // 2
        for name, (x, y) in (("margin", (2, 2)), ("gutter", gutter)):
            assert abs(int(picture[y, x, 0]) - min(255, round(128 * light))) <= 2, (kind, name, picture[y, x])
