"""OSC end to end: the real App on a dummy display, a controller on loopback, and `python -m exhibit send`."""
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import model
from exhibit import commands as c
from exhibit import config
from exhibit.control import osc
from exhibit.live import App
from exhibit.screen.display import Display

from tests.test_osc import Peer

ROOT = Path(__file__).resolve().parent.parent
P = osc.PREFIX


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_tablet_plays_the_real_show(tmp_path):
    peer = Peer()
    port = free_port()
    cfg = config.load(overrides={
        "display": {"fullscreen": False, "window_size": [320, 240], "fps": 30},
        "show": {"fade_in": 0.0, "fade_out": 0.2},
        "osc": {"bind": "127.0.0.1", "port": port, "feedback_port": peer.port},
        "paths": {"screenshots": str(tmp_path / "shots"), "models": str(tmp_path / "models"),
                  "scenes": str(tmp_path / "scenes.json")}})
    (tmp_path / "models").mkdir()
    model.save_generator(model.new_generator(32, seed=2, width=16).network, tmp_path / "models" / "other.keras")
    data = (tmp_path / "models" / "other.keras").read_bytes()
    (tmp_path / "models" / "broken.keras").write_bytes(data[:len(data) // 2])
    display = Display(cfg.display)
    app = App(cfg, model.new_generator(32, seed=1, width=16), display, seed=1)   # small: the test is about OSC
    results = {}

    def play():
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:                 # until the show listens
                peer.send(port, f"{P}/ping")
                if peer.expect(f"{P}/pong", timeout=0.2) == []:
                    break
            results["state"] = peer.expect(f"{P}/mode", timeout=5)   # a new controller gets the full state
            peer.send(port, f"{P}/model", "broken")              # a truncated file: fails in the background
            # A model loads in a generator process that starts TensorFlow first: give a busy machine time.
            results["broken"] = peer.expect(f"{P}/error", timeout=120)
            peer.send(port, f"{P}/scene/recall", 50)              # an empty slot
            results["empty"] = peer.expect(f"{P}/error", timeout=5)
            for address, args in [(f"{P}/mode", ("unison",)), (f"{P}/speed/fader", (0.75,)), (f"{P}/psi", (0.3,)),
                                  (f"{P}/model", ("../other.keras",)), (f"{P}/model", ("other",)),
                                  (f"{P}/scene/save", (2,)), (f"{P}/screenshot", (1.0,))]:
                peer.send(port, address, *args)
            results["model"] = peer.expect(f"{P}/model", where=lambda a: a == ["other"], timeout=120)
            results["done"] = peer.expect(f"{P}/done", timeout=5)
            results["mode"] = (f"{P}/mode", ["unison"]) in peer.heard
            results["speed"] = [a for address, a in peer.heard if address == f"{P}/speed"]
            sent = subprocess.run([sys.executable, "-m", "exhibit", "send", f"{P}/status", "--port", str(port)],
                                  capture_output=True, text=True, timeout=60, cwd=ROOT)
            results["send"] = sent.stdout
        finally:
            app.queue.put(c.Quit())

    threading.Thread(target=play, daemon=True).start()
    try:
        app.run(seconds=300)
    finally:
        display.close()
        peer.close()
    assert results.get("state") == ["drift"]
    assert results.get("broken") and "LoadModel broken: model not loaded" in results["broken"][0], results
    assert results.get("empty") == ["RecallScene 50: scene 50 is empty; save one there first"], results
    assert results.get("done") == ["LoadModel other: model other loaded"], results
    assert results.get("mode") and results.get("model"), results
    assert results["speed"][-1][0] == pytest.approx(3.375)             # fader 0.75 -> 8 * 0.75**3
    status = results["send"].split()
    assert status[0] == f"{P}/status" and status[status.index("mode") + 1] == "unison", results["send"]
    assert status[status.index("model") + 1] == "other"
    scene = json.loads((tmp_path / "scenes.json").read_text())["scenes"]["2"]
    assert scene["mode"] == "unison" and scene["psi"] == 0.3, scene      # as sent: not 0.30000001192092896
    assert [p.suffix for p in (tmp_path / "shots").iterdir()] == [".png"]
