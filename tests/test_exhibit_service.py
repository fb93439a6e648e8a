"""The show under a service manager: notify datagrams on a real Unix socket, service files parsed back."""
import logging
import socket
import sys
import threading
import time

import pytest

import model
from exhibit import config
from exhibit.live import App
from exhibit.screen.display import Display
from exhibit.service.notify import Notifier

unix_only = pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="systemd's notify socket is a Unix socket")


@pytest.fixture(scope="module")
def generator():
    return model.new_generator(64, seed=1, width=32)


class FakeSystemd:
    """A Unix datagram socket where systemd's would be; records (monotonic time, fields) of every datagram."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.2)
        self.got = []
        self.running = True
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            self.got.append((time.monotonic(), data.decode().split("\n")))

    def stop(self):
        self.running = False
        self.thread.join()
        self.sock.close()

    def times(self, field):
        return [t for t, fields in self.got if field in fields]


@unix_only
@pytest.mark.parametrize("kind", ["path", pytest.param("abstract", marks=pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="abstract sockets are Linux's"))])
def test_ready_after_the_first_grid_pings_from_the_render_loop_and_stopping(tmp_path, monkeypatch, generator, kind):
    name = str(tmp_path / "notify") if kind == "path" else f"@permeation-test-{time.monotonic_ns()}"
    systemd = FakeSystemd(name if kind == "path" else "\0" + name[1:])
    monkeypatch.setenv("NOTIFY_SOCKET", name)
    monkeypatch.setenv("WATCHDOG_USEC", "1000000")           # WatchdogSec=1: a ping every 0.5 s
    cfg = config.load(overrides={"display": {"fullscreen": False, "window_size": [240, 180], "fps": 30},
                                 "show": {"fade_in": 0.0}, "osc": {"enabled": False},
                                 "paths": {"scenes": str(tmp_path / "scenes.json")}})
    display = Display(cfg.display)
    app = App(cfg, generator, display, seed=1)
    marks = {}

    def on_frame(app, now):
        if app.stage.ready():
            marks.setdefault("ready", time.monotonic())
        if "ready" in marks and time.monotonic() - marks["ready"] > 2 and "frozen" not in marks:
            marks["frozen"] = time.monotonic()
            time.sleep(3.0)                                   # the render loop hangs
            marks["thawed"] = time.monotonic()
        return "thawed" not in marks or time.monotonic() - marks["thawed"] < 2

    try:
        app.run(seconds=120, on_frame=on_frame)
    finally:
        display.close()
        time.sleep(0.3)
        systemd.stop()
    ready = systemd.times("READY=1")
    assert len(ready) == 1 and ready[0] >= marks["ready"] - 0.1, "READY=1 once, when the grid is first shown"
    status = [f for _, fields in systemd.got for f in fields if f.startswith("STATUS=")]
    assert any("fps, model untrained" in s for s in status), status
    pings = systemd.times("WATCHDOG=1")
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    during = [t for t in pings if marks["frozen"] + 0.1 < t < marks["thawed"]]
    assert not during and max(gaps) >= 2.9, "a frozen render loop must stop the pings"
    before = [b - a for a, b in zip(pings, pings[1:]) if b < marks["frozen"]]
    after = [t for t in pings if t > marks["thawed"]]
    assert before and max(before) < 0.9 and len(after) >= 2, "pings every 0.5 s while the loop runs"
    assert "STOPPING=1" in systemd.got[-1][1]


@unix_only
def test_a_notify_socket_pointing_nowhere_is_one_log_line(tmp_path, caplog):
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-here")})
    with caplog.at_level(logging.ERROR, logger="exhibit"):
        assert notifier.ready("up") is False
        notifier.ping(10.0)
        notifier.status(10.0, "60 fps")
        notifier.stopping()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "nobody-here" in lines[0] and "goes on" in lines[0], lines


def test_without_a_service_manager_nothing_is_sent():
    notifier = Notifier({})
    assert notifier.sock is None and notifier.ready() is False
