"""A real X server for tests (Xvfb), and what a technician would use to check a window on it.

Display numbers :90..:99 only. Each helper runs the X clients other people wrote (xwininfo, xdotool,
ImageMagick's import), so a test sees the screen the way a person at the machine would.
"""
import io
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.owned import ends_with_us

ROOT = Path(__file__).resolve().parent.parent
TOOLS = ("Xvfb", "xwininfo", "xdotool", "import")
TITLE = "Medium · Permeation"


def missing_tools():
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def skip_without_x():
    missing = missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install xvfb x11-utils xdotool imagemagick; .ci/run does)")


class XServer:
    """Xvfb on the first free display of :90..:99, optionally with a window manager; stop() ends both."""

    def __init__(self, size=(1920, 1080), window_manager=None):
        skip_without_x()
        self.size, self.process, self.wm = size, None, None
        for number in range(90, 100):
            if Path(f"/tmp/.X{number}-lock").exists() or Path(f"/tmp/.X11-unix/X{number}").exists():
                continue
            process = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", f"{size[0]}x{size[1]}x24",
                                        "-nolisten", "tcp", "-noreset"],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=ends_with_us)
            self.name = f":{number}"
            if self._wait_ready(process):
                self.process = process
                break
            process.kill()
            process.wait()
        if self.process is None:
            pytest.skip("no free X display among :90..:99")
        if window_manager:
            if shutil.which(window_manager) is None:
                self.stop()
                pytest.skip(f"needs the window manager {window_manager} (.ci/run installs it)")
            self.wm = subprocess.Popen([window_manager], env=self.env(), stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, preexec_fn=ends_with_us)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and "_NET_SUPPORTING_WM_CHECK" not in self.run("xprop", "-root"):
                time.sleep(0.2)

    def _wait_ready(self, process):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and process.poll() is None:
            if subprocess.run(["xwininfo", "-root"], env=self.env(), capture_output=True).returncode == 0:
                return True
            time.sleep(0.1)
        return False

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
        env.update(DISPLAY=self.name, SDL_VIDEODRIVER="x11", PYTHONPATH=str(ROOT), **extra)
        return env

    def run(self, *command):
        return subprocess.run(command, env=self.env(), capture_output=True, text=True).stdout

    def kill(self):
        """Kill the X server the way a crash or an unplugged projector's restart would (SIGKILL), tidying its lock."""
        self.process.kill()
        self.process.wait()
        number = self.name[1:]
        for leftover in (Path(f"/tmp/.X{number}-lock"), Path(f"/tmp/.X11-unix/X{number}")):
            leftover.unlink(missing_ok=True)

    def stop(self):
        for process in (self.wm, self.process):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    # -- looking at the screen --------------------------------------------------------------------------

    def windows(self):
        """Ids of the show's windows, from the window tree (xdotool cannot match SDL's UTF-8 window names)."""
        return [line.split()[0] for line in self.run("xwininfo", "-root", "-tree").splitlines() if TITLE in line]

    def geometry(self):
        """(x, y, width, height) of the show's window on the root window, from xwininfo; None if there is none."""
        ids = self.windows()
        if not ids:
            return None
        info = self.run("xwininfo", "-id", ids[-1])
        values = {key: int(value) for key, value in re.findall(r"(Absolute upper-left [XY]|Width|Height):\s+(-?\d+)",
                                                              info)}
        if len(values) < 4:
            return None
        return (values["Absolute upper-left X"], values["Absolute upper-left Y"], values["Width"], values["Height"])

    def wait_geometry(self, expected, seconds=30):
        """Poll until the window has geometry `expected`; returns the last geometry seen."""
        deadline, seen = time.monotonic() + seconds, None
        while time.monotonic() < deadline:
            seen = self.geometry()
            if seen == expected:
                break
            time.sleep(0.2)
        return seen

    def screenshot(self):
        """The whole screen as uint8 [H, W, 3], through ImageMagick's import."""
        png = subprocess.run(["import", "-window", "root", "png:-"], env=self.env(), capture_output=True,
                             check=True).stdout
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    def key(self, *keys):
        """Type keys the way a keyboard does: to whichever window has the input focus (xdotool, XTEST)."""
        subprocess.run(["xdotool", "key", *keys], env=self.env(), check=True, capture_output=True)


class Show:
    """`python -m exhibit` on an X server, its log read line by line in the background."""

    def __init__(self, xserver, *args, cwd, **env):
        self.process = subprocess.Popen([sys.executable, "-m", "exhibit", *args], cwd=cwd,
                                        env=xserver.env(**env), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        text=True, start_new_session=True, preexec_fn=ends_with_us)
        self.lines = []
        import threading
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def log(self):
        return "".join(self.lines)

    def wait_for(self, text, seconds=240):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.process.poll() is None:
            if text in self.log:
                return True
            time.sleep(0.2)
        return text in self.log

    def wait(self, seconds=60):
        try:
            status = self.process.wait(seconds)
        except subprocess.TimeoutExpired:
            status = None
        self._reader.join(5)
        return status

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


def children_of(pid):
    """Process ids whose parent is pid (from /proc), for checking nothing is left behind."""
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        match = re.search(r"^PPid:\s+(\d+)", text, re.M)
        if match and int(match.group(1)) == pid:
            out.append(int(status.parent.name))
    return out
