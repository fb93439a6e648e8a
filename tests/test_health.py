"""Health: a heartbeat line in the log and memory, restarts and the last OSC peer in /exhibit/status, from the real
show with its generator process and OSC receiver on loopback."""
import logging
import re
import socket

import pytest

from exhibit import config
from exhibit import health
from exhibit.control import osc
from exhibit.generation.process import RemoteGenerator
from exhibit.live import App
from exhibit.screen.display import Display

from tests.test_osc import Peer

P = osc.PREFIX


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow            # two generator processes start (the first and its replacement): about a minute
def test_heartbeat_and_status_report_memory_restarts_and_the_last_peer(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr(health, "HEARTBEAT_EVERY", 2.0)       # a minute in the show; seconds in a test
    monkeypatch.setattr(health, "MEASURE_EVERY", 0.5)
    port, peer = free_port(), Peer()
    cfg = config.load(overrides={
        "display": {"fullscreen": False, "window_size": [240, 180], "fps": 30},
        "grid": {"rows": 3, "cols": 3}, "worker": {"batch": 9}, "show": {"fade_in": 0.0, "fade_out": 0.2},
        "osc": {"bind": "127.0.0.1", "port": port, "feedback_port": 0},
        "paths": {"data": str(tmp_path)}})
    generator = RemoteGenerator(None, resolution=32)
    display = Display(cfg.display)
    app = App(cfg, generator, display, seed=1)
    seen = {}

    def on_frame(app, now):
        if "killed" not in seen and app.stage.ready() and now > 1.0:
            generator._process.kill()                          # the generator dies; the show restarts it
            seen["killed"] = now
        elif "killed" in seen and "played" not in seen and app.stage.health.get("generator_restarts") == 1:
            peer.send(port, f"{P}/speed", 2.0)                   # a controller plays the show ...
            seen["played"] = now
        elif "played" in seen and "asked" not in seen and now - seen["played"] > 1.0:
            peer.send(port, f"{P}/status")                      # ... and a technician asks how it is
            seen["asked"] = now
        elif "asked" in seen and now - seen["asked"] > 3.0:
            return False
        return None

    try:
        with caplog.at_level(logging.INFO, logger="exhibit"):
            app.run(seconds=90, on_frame=on_frame)
        status = peer.expect(f"{P}/status", timeout=1.0)
    finally:
        display.close()
        app.worker.generation.generator.close()
    assert "asked" in seen, seen
    fields = dict(zip(status[::2], status[1::2]))
    assert fields["generator_restarts"] == 1 and fields["osc_peer"] == "127.0.0.1"
    assert 30 < fields["memory_mb"] < 4000                      # the show and its generator process together
    beats = [r.getMessage() for r in caplog.records if r.getMessage().startswith("heartbeat:")]
    assert beats, caplog.text[-2000:]
    last = beats[-1]
    assert re.fullmatch(r"heartbeat: up 0:00:\d\d, [\d.]+ fps, p99 frame [\d.]+ ms, \d+ fresh tiles/s, "
                        r"memory show \d+ MB( \+ [a-z ]+ \d+ MB)+, OSC 2 received \(last from 127\.0\.0\.1\), "
                        r"generator restarts 1, always open", last), last
    assert re.search(r"\+ generator \d+ MB", last) and re.search(r"\+ osc receiver \d+ MB", last), last
    assert "\n" not in last
