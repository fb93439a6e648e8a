"""The TouchOSC layout: written by `python -m exhibit controller`, read back, every control routed by the show."""
import subprocess
import sys
import zlib
from pathlib import Path

import xml.etree.ElementTree as ET

from exhibit import commands as c
from exhibit.control import osc
from exhibit.control.osc import touchosc

ROOT = Path(__file__).resolve().parent.parent
P = osc.PREFIX


def test_controller_writes_a_tosc_that_reads_back(tmp_path):
    out = tmp_path / "show.tosc"
    done = subprocess.run([sys.executable, "-m", "exhibit", "controller", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    root = ET.fromstring(zlib.decompress(out.read_bytes()))          # the format: zlib-compressed XML
    assert root.tag == "lexml" and root.get("version") == "3"
    controls = touchosc.read(out)
    addresses = {address for _, _, address in controls if address}
    faders = {address for kind, _, address in controls if kind == "FADER"}
    assert faders == {f"{P}/{name}/fader" for name in ("speed", "psi", "brightness", "blackout")}
    assert {f"{P}/mode/{m}" for m in c.MODES} <= addresses
    assert {f"{P}/scene/{n}/recall" for n in range(1, 9)} <= addresses
    assert {f"{P}/reseed/button", f"{P}/pause"} <= addresses
    tiles = [address for kind, name, address in controls if name and name.startswith("tile ")]
    assert tiles == [f"{P}/tile/{n}/reseed/button" for n in range(196)]
    for address in addresses:              # everything the layout sends is obeyed by the show
        assert osc.translate(address, [1.0]), address
    # every control lies on the page and no two overlap
    frames = []
    for node in list(root.iter("node"))[1:]:
        frame = next(p.find("value") for p in node.iter("property") if p.findtext("key") == "frame")
        x, y, w, h = (float(frame.findtext(k)) for k in "xywh")
        assert 0 <= x and 0 <= y and x + w <= touchosc.WIDTH and y + h <= touchosc.HEIGHT
        frames.append((x, y, w, h))
    for i, (x, y, w, h) in enumerate(frames):
        for X, Y, W, H in frames[i + 1:]:
            assert x + w <= X or X + W <= x or y + h <= Y or Y + H <= y, "controls overlap"


def test_an_unwritable_place_is_one_line(tmp_path):
    assert touchosc.main(["--out", str(tmp_path / "missing" / "show.tosc")]) == 1
    assert not (tmp_path / "missing").exists()
