"""The show on a real X server (Xvfb), as a kiosk starts it: `python -m exhibit` with and without a window manager.

Geometry is read back with xwininfo, pixels with ImageMagick's import, keys are typed with xdotool. Each test
starts its own Xvfb on :90..:99 and is skipped, saying why, where those programs are not installed.
"""
import os
import socket
import subprocess
import time

import numpy as np
import pytest

from tests.xserver import Show, XServer, children_of

BACKGROUND = (0x33, 0x66, 0xcc)          # gutters and margins: tells the show's pixels from the bare root window
SCREEN = (1920, 1080)
WINDOW = (1280, 720)


@pytest.fixture
def xserver(request):
    server = XServer(SCREEN, window_manager=getattr(request, "param", None))
    yield server
    server.stop()


def start(xserver, tmp_path, renderer, *args):
    if not any(arg.startswith("--osc-port") for arg in args):
        args = ("--no-osc", *args)
    return Show(xserver, "--seed", "1", "--set", f"display.renderer={renderer}",
                "--set", "grid.background=#%02x%02x%02x" % BACKGROUND, "--set", "show.fade_in=0",
                "--set", "show.fade_out=0.3", *args, cwd=tmp_path)


def corners_are_background(xserver, seconds=20):
    """The four corner pixels of the screen show the grid's background: the window covers the whole screen."""
    deadline, corners = time.monotonic() + seconds, None
    while time.monotonic() < deadline:
        shot = xserver.screenshot()
        corners = [tuple(int(v) for v in shot[y, x]) for y in (0, -1) for x in (0, -1)]
        if all(corner == BACKGROUND for corner in corners):
            return True, shot
        time.sleep(0.3)
    return False, corners


@pytest.mark.parametrize("xserver", [None, pytest.param("openbox", marks=pytest.mark.slow)],
                         ids=["bare-x", "openbox"], indirect=True)
@pytest.mark.parametrize("renderer", ["gpu", "cpu"])
def test_fullscreen_covers_the_screen_takes_the_keys_and_survives_toggles(xserver, tmp_path, renderer):
    show = start(xserver, tmp_path, renderer)
    try:
        assert show.wait_for("showing 196 tiles"), show.log[-3000:]
        assert f"on a {SCREEN[0]}x{SCREEN[1]} screen ({renderer} renderer)" in show.log
        assert xserver.wait_geometry((0, 0, *SCREEN)) == (0, 0, *SCREEN)
        covered, shot = corners_are_background(xserver)
        assert covered, f"corners {shot}"
        assert np.any(shot[SCREEN[1] // 2 - 40:SCREEN[1] // 2 + 40, SCREEN[0] // 2 - 40:SCREEN[0] // 2 + 40]
                      != BACKGROUND), "the grid should be drawn in the middle of the screen"
        for toggle in range(2):                 # F, F, F, F: window, fullscreen, window, fullscreen
            xserver.key("f")                    # no click first: the show must have the focus by itself
            deadline = time.monotonic() + 30   # polled from at once: the window may be remade, or only resized
            x, y, w, h = xserver.geometry() or (0, 0, 0, 0)
            while (w, h) != WINDOW and time.monotonic() < deadline:
                time.sleep(0.2)
                x, y, w, h = xserver.geometry() or (0, 0, 0, 0)
            assert (w, h) == WINDOW, f"toggle {toggle}: F should give a {WINDOW} window, got {w}x{h}+{x}+{y}"
            xserver.key("f")
            assert xserver.wait_geometry((0, 0, *SCREEN)) == (0, 0, *SCREEN), f"toggle {toggle}: back to fullscreen"
            covered, corners = corners_are_background(xserver)
            assert covered, f"toggle {toggle}: corners {corners}"
        xserver.key("Escape")
        assert show.wait(60) == 0, show.log[-3000:]
    finally:
        show.stop()
    assert "Traceback" not in show.log, show.log[-3000:]


def test_a_screen_that_does_not_exist_is_named_with_the_ones_that_do(xserver, tmp_path):
    show = start(xserver, tmp_path, "auto", "--display", "3")
    try:
        assert show.wait(240) == 2, show.log[-3000:]
    finally:
        show.stop()
    last = show.lines[-1]
    assert last.startswith("exhibit: error: [display] display = 3: this machine has 1 screen(s)"), show.log[-2000:]
    assert "0..0" in last


def test_losing_the_display_ends_the_show_with_one_line_and_a_status_to_restart_on(xserver, tmp_path):
    """A projector's X server killed under a running show: one clear line, exit status 3, no process left."""
    show = start(xserver, tmp_path, "auto")
    try:
        assert show.wait_for("showing 196 tiles"), show.log[-3000:]
        helpers = children_of(show.process.pid)
        assert helpers, "the show should have a generator process"
        xserver.kill()
        status = show.wait(60)
    finally:
        show.stop()
    assert status == 3, show.log[-3000:]
    errors = [line for line in show.lines if "error" in line.lower() and "cuda" not in line.lower()]
    assert errors and "the display was lost" in errors[-1] and "service manager" in errors[-1], show.log[-3000:]
    assert "Traceback" not in show.log and "XIO" not in show.log, show.log[-3000:]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") for pid in helpers):
        time.sleep(0.2)
    assert not [pid for pid in helpers if os.path.exists(f"/proc/{pid}")], "child processes outlived the show"


def free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_screen(xserver, check, seconds=20):
    """Screenshots until check(shot) holds; returns the last shot and whether it held."""
    deadline = time.monotonic() + seconds
    while True:
        shot = xserver.screenshot()
        if check(shot) or time.monotonic() > deadline:
            return shot, check(shot)
        time.sleep(0.3)


def test_pattern_and_identify_reach_the_screen_from_keys_and_osc(xserver, tmp_path):
    """T shows the projector test pattern at native size; /exhibit/testpattern 0 ends it; /exhibit/identify shows
    the machine's name and addresses over the grid for 10 seconds."""
    from pythonosc.udp_client import SimpleUDPClient

    from exhibit.screen.patterns import BARS, GREY_STEPS

    port = free_udp_port()
    show = start(xserver, tmp_path, "auto", "--osc-port", str(port), "--feedback-port", "0",
                 "--set", "osc.bind=127.0.0.1")
    osc = SimpleUDPClient("127.0.0.1", port)
    width, height = SCREEN
    cx, cy, step = width // 2, height // 2, height // 12
    try:
        assert show.wait_for("showing 196 tiles"), show.log[-3000:]
        xserver.key("t")
        shot, ok = wait_screen(xserver, lambda shot: np.all(shot[0] == 255) and np.all(shot[:, -1] == 255))
        assert ok, "the test pattern's frame should be on the outermost pixels"
        assert np.all(shot[-1] == 255) and np.all(shot[:, 0] == 255)
        assert tuple(shot[cy, cx]) == (255, 255, 255), "a cross marks the centre"
        greys = [int(shot[cy + step + step // 2, int(cx - 3 * step + (i + 0.5) * 6 * step / GREY_STEPS), 0])
                 for i in range(GREY_STEPS)]
        assert greys[0] == 0 and greys[-1] == 255 and greys == sorted(set(greys)), greys
        bars = [tuple(int(v) for v in shot[cy - 2 * step + step // 2, int(cx - 3 * step + (i + 0.5) * 6 * step
                                                                             / len(BARS))]) for i in range(len(BARS))]
        assert bars == BARS
        grid_lines = np.all(shot[step // 2, 1:-1] == 128, axis=1).sum()        # a row crossing the vertical lines
        assert grid_lines >= width // step - 1
        osc.send_message("/exhibit/testpattern", 0)
        shot, ok = wait_screen(xserver, lambda shot: tuple(shot[0, 0]) == BACKGROUND)
        assert ok, "/exhibit/testpattern 0 should bring the grid back"

        osc.send_message("/exhibit/identify", [])
        text = np.array([235, 235, 230])
        around_centre = (slice(cy - 200, cy + 200), slice(cx - 500, cx + 500))
        shot, ok = wait_screen(xserver, lambda shot: np.all(shot[around_centre] == text, axis=2).sum() > 200)
        assert ok, "the identify panel should show text in the middle of the screen"
        assert show.wait_for("identify on: machine " + socket.gethostname(), 10), show.log[-3000:]
        assert "OSC %d (UDP and TCP)" % port in show.log and "OSCQuery 8001 (HTTP)" in show.log
        shot, ok = wait_screen(xserver, lambda shot: np.all(shot[around_centre] == text, axis=2).sum() < 20, 20)
        assert ok, "the identify panel should go by itself after 10 s"
        xserver.key("Escape")
        assert show.wait(60) == 0, show.log[-3000:]
    finally:
        show.stop()
    assert "Traceback" not in show.log, show.log[-3000:]


def test_a_screen_too_small_for_the_grid_stops_with_what_it_needs(tmp_path):
    server = XServer((120, 90))
    show = start(server, tmp_path, "auto")
    try:
        assert show.wait(240) == 2, show.log[-3000:]
    finally:
        show.stop()
        server.stop()
    last = show.lines[-1]
    assert last.startswith("exhibit: error: the screen is 120x90: a 14x14 grid needs at least 129x129"), last
    assert "grid.rows" in last and "Traceback" not in show.log


@pytest.mark.parametrize("renderer", ["cpu", pytest.param("gpu", marks=pytest.mark.slow)])
def test_a_window_given_another_size_gets_the_grid_laid_out_for_it(xserver, tmp_path, renderer):
    """What a window manager that refuses fullscreen, or imposes its own size, does: the grid follows the window."""
    show = start(xserver, tmp_path, renderer, "--windowed")
    try:
        assert show.wait_for("showing 196 tiles"), show.log[-3000:]
        window = xserver.windows()[-1]
        subprocess.run(["xdotool", "windowsize", window, "800", "600"], env=xserver.env(), check=True)
        assert show.wait_for("the window is now 800x600", 30), show.log[-3000:]
        x, y, w, h = xserver.wait_geometry((320, 180, 800, 600), 5) or (0, 0, 0, 0)
        assert (w, h) == (800, 600)

        def laid_out(shot):
            inside = shot[y:y + h, x:x + w]
            corners = [tuple(int(v) for v in inside[j, i]) for j in (0, -1) for i in (0, -1)]
            return all(c == BACKGROUND for c in corners) and np.any(inside[h // 2 - 20:h // 2 + 20, w // 2 - 20:w // 2 + 20] != BACKGROUND)

        shot, ok = wait_screen(xserver, laid_out)
        assert ok, "the grid should fit inside the 800x600 window, margins at its corners"
        xserver.key("Escape")
        assert show.wait(60) == 0, show.log[-3000:]
    finally:
        show.stop()
