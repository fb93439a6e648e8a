"""A ready TouchOSC layout: `python -m exhibit controller --out show.tosc`.

The current TouchOSC file (.tosc) is XML compressed with zlib: a <lexml version='3'> root holding one GROUP
node, whose <children> are controls (node type FADER, BUTTON, LABEL...), each with <properties> (name,
frame, color...), <values> (x for a fader or a button, touch) and <messages><osc> (the address as a CONSTANT
partial, the value x as the argument, send and receive both on, so faders follow the show's feedback).

Every control's address comes from addresses.ROUTES, the table that routes messages: faders for the levels,
buttons for the modes, scenes 1-8, reseed, pause, and a 14x14 grid of tile buttons (a press reseeds that tile).
"""
import os
import uuid
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

from exhibit.commands import MODES
from exhibit.control.osc.addresses import LEVELS, PREFIX, Context, translate

WIDTH, HEIGHT = 1024, 768                 # an iPad in landscape; TouchOSC scales a layout to the screen
SCENES = range(1, 9)
MOMENTARY, TOGGLE = 0, 1                  # TouchOSC buttonType: momentary, toggle (on release)
COLORS = {"fader": (0.25, 0.6, 0.9), "mode": (0.9, 0.6, 0.2), "scene": (0.4, 0.8, 0.4), "tile": (0.6, 0.6, 0.6),
          "action": (0.9, 0.3, 0.3)}


def _route(path, ctx=Context()):
    """PREFIX + path, checked by the router itself: a layout can only send what the show obeys."""
    translate(PREFIX + path, [1.0], ctx)             # Rejected if the table has no such address
    return PREFIX + path


def _property(parent, kind, key, value):
    prop = ET.SubElement(parent, "property", type=kind)
    ET.SubElement(prop, "key").text = key
    element = ET.SubElement(prop, "value")
    if isinstance(value, dict):
        for name, v in value.items():
            ET.SubElement(element, name).text = str(v)
    else:
        element.text = str(value)


def _partial(parent, kind, conversion, value):
    partial = ET.SubElement(parent, "partial")
    for name, text in (("type", kind), ("conversion", conversion), ("value", value), ("scaleMin", 0),
                       ("scaleMax", 1)):
        ET.SubElement(partial, name).text = str(text)


def _node(parent, kind, name, frame, color=None, address=None, button_type=None, label=None):
    node = ET.SubElement(parent, "node", ID=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{kind}:{name}")), type=kind)
    props = ET.SubElement(node, "properties")
    _property(props, "s", "name", name)
    _property(props, "r", "frame", dict(zip("xywh", map(int, frame))))
    if color:
        _property(props, "c", "color", {"r": color[0], "g": color[1], "b": color[2], "a": 1})
    if button_type is not None:
        _property(props, "i", "buttonType", button_type)
    if label is not None:
        _property(props, "s", "text", label)
    if kind == "FADER":
        _property(props, "b", "response", 0)
    values = ET.SubElement(node, "values")
    if kind in ("FADER", "BUTTON"):
        for key in ("x", "touch"):
            value = ET.SubElement(values, "value")
            for tag, text in (("key", key), ("locked", 0), ("lockedDefaultCurrent", 0),
                              ("default", 0 if key == "x" else "false"), ("defaultPull", 0)):
                ET.SubElement(value, tag).text = str(text)
    if address:
        messages = ET.SubElement(node, "messages")
        osc = ET.SubElement(messages, "osc")
        for tag, text in (("enabled", 1), ("send", 1), ("receive", 1), ("feedback", 0), ("connections", "00001")):
            ET.SubElement(osc, tag).text = str(text)
        trigger = ET.SubElement(ET.SubElement(osc, "triggers"), "trigger")
        ET.SubElement(trigger, "var").text = "x"
        ET.SubElement(trigger, "condition").text = "ANY"
        _partial(ET.SubElement(osc, "path"), "CONSTANT", "STRING", address)
        _partial(ET.SubElement(osc, "arguments"), "VALUE", "FLOAT", "x")
    ET.SubElement(node, "children")
    return node


def layout(ctx=Context()):
    """The layout as an XML element tree (the root <lexml>)."""
    root = ET.Element("lexml", version="3")
    page = _node(root, "GROUP", "Medium · Permeation", (0, 0, WIDTH, HEIGHT), (0.05, 0.05, 0.05))
    controls = page.find("children")
    # left column (256 px): the levels as faders with their names, then modes, scenes, reseed and pause
    for i, level in enumerate(LEVELS):
        x = 16 + i * 62
        _node(controls, "FADER", level.name, (x, 16, 50, 500), COLORS["fader"], _route(f"/{level.name}/fader"))
        _node(controls, "LABEL", f"{level.name} label", (x - 4, 520, 58, 24), label=level.name)
    for i, mode in enumerate(MODES):
        _node(controls, "BUTTON", f"mode {mode}", (16 + i * 62, 556, 56, 48), COLORS["mode"],
              _route(f"/mode/{mode}"), TOGGLE, label=mode)
    for i, slot in enumerate(SCENES):
        _node(controls, "BUTTON", f"scene {slot}", (16 + (i % 4) * 62, 614 + (i // 4) * 38, 56, 32), COLORS["scene"],
              _route(f"/scene/{slot}/recall"), MOMENTARY, label=str(slot))
    _node(controls, "BUTTON", "reseed", (16, 694, 118, 58), COLORS["action"], _route("/reseed/button"), MOMENTARY,
          label="reseed")
    _node(controls, "BUTTON", "pause", (140, 694, 118, 58), COLORS["action"], _route("/pause"), TOGGLE, label="pause")
    # right: the grid, one button per tile, row-major like the screen
    size = (HEIGHT - 32) / max(ctx.rows, ctx.cols)
    left = WIDTH - 16 - size * ctx.cols
    for row in range(ctx.rows):
        for col in range(ctx.cols):
            n = row * ctx.cols + col
            _node(controls, "BUTTON", f"tile {n}", (left + col * size + 1, 16 + row * size + 1, size - 2, size - 2),
                  COLORS["tile"], _route(f"/tile/{n}/reseed/button", ctx), MOMENTARY)
    return root


def write(path, ctx=Context()):
    """Write the layout to `path` as a .tosc file (zlib-compressed UTF-8 XML). Returns the number of controls."""
    root = layout(ctx)
    data = b"<?xml version='1.0' encoding='UTF-8'?>" + ET.tostring(root, encoding="utf-8", xml_declaration=False)
    path = Path(path)
    partial = path.with_name(f".{path.name}.partial")
    try:
        partial.write_bytes(zlib.compress(data))
        os.replace(partial, path)                  # never a half-written layout under the real name
    finally:
        partial.unlink(missing_ok=True)
    return len(root.find("node").find("children"))


def read(path):
    """A .tosc file -> [(control type, name, OSC address or None)], to check a layout."""
    with open(path, "rb") as file:
        root = ET.fromstring(zlib.decompress(file.read()))
    out = []
    for node in root.iter("node"):
        name = next((p.findtext("value") for p in node.iter("property") if p.findtext("key") == "name"), None)
        address = node.findtext("messages/osc/path/partial/value")
        out.append((node.get("type"), name, address))
    return out


def main(argv=None):
    import argparse
    parser = argparse.ArgumentParser(prog="python -m exhibit controller",
                                     description="Write a TouchOSC layout for the show, made from its address table.")
    parser.add_argument("--out", required=True, help="the .tosc file to write, e.g. show.tosc")
    parser.add_argument("--rows", type=int, default=14, help="grid rows (default 14)")
    parser.add_argument("--cols", type=int, default=14, help="grid columns (default 14)")
    options = parser.parse_args(argv)
    if not (1 <= options.rows <= 64 and 1 <= options.cols <= 64):
        parser.error("--rows and --cols must be 1..64")
    try:
        count = write(options.out, Context(options.rows, options.cols))
    except OSError as error:
        print(f"controller: cannot write {options.out} ({error.strerror or error})")
        return 1
    print(f"wrote {options.out}: {count} controls; open it in TouchOSC and connect to the show (port 8000)")
    return 0
