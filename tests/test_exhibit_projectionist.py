"""Identify and test pattern as Commands from OSC and keys, and the window's cursor (dummy video driver)."""
import pygame
import pytest

from exhibit import commands as c
from exhibit import config
from exhibit.control.keyboard import Keyboard
from exhibit.control.osc.addresses import Rejected, translate
from exhibit.screen.display import Display


@pytest.mark.parametrize("address, args, want", [
    ("/exhibit/identify", [], c.Identify(None)),
    ("/exhibit/identify", [1], c.Identify(True)),
    ("/exhibit/identify", [0.0], c.Identify(False)),
    ("/exhibit/testpattern", [], c.TestPattern(None)),
    ("/exhibit/testpattern", [True], c.TestPattern(True)),
    ("/exhibit/testpattern", [0.7], c.TestPattern(True)),      # a 0..1 toggle switches at 0.5
])
def test_osc_addresses_build_the_commands(address, args, want):
    assert translate(address, args) == [want]


@pytest.mark.parametrize("args, message", [([2], "got 2"), (["on"], "must be a number"), ([1, 1], "got 2")])
def test_bad_arguments_are_rejected_naming_what_is_accepted(args, message):
    with pytest.raises(Rejected, match=message):
        translate("/exhibit/testpattern", args)


def test_commands_reject_values_that_are_not_switches():
    with pytest.raises(c.CommandError, match="Identify: on must be"):
        c.Identify(3)


def test_keys_i_and_t():
    keyboard = Keyboard()
    press = lambda key: keyboard.commands_for(pygame.event.Event(pygame.KEYDOWN, key=key, mod=0, scancode=0))  # noqa
    assert press(pygame.K_i) == [c.Identify()] and press(pygame.K_t) == [c.TestPattern()]


def test_cursor_is_hidden_in_fullscreen_and_shown_in_a_window():
    settings = config.load(overrides={"display": {"fullscreen": True, "renderer": "cpu"}}).display
    display = Display(settings)
    try:
        assert display.fullscreen and not pygame.mouse.get_visible()
        display.toggle_fullscreen()
        assert pygame.mouse.get_visible()
        display.toggle_fullscreen()
        assert not pygame.mouse.get_visible()
    finally:
        display.close()


def test_identify_shows_the_oscquery_port_next_to_the_osc_ports():
    """What a technician across the room reads: the OSC port (UDP and TCP), where replies go and the OSCQuery
    HTTP port, on the panel itself, not only in the log."""
    from exhibit.screen.overlays import Overlays, load_names
    from exhibit.screen.patterns import identity

    osc = config.load(overrides={"osc": {"port": 8100, "feedback_port": 9100, "query_port": 8123}}).osc
    lines = identity(osc, "default-64")
    labels = [label for label, _ in lines]
    assert dict(lines)["OSC"] == "8100 (UDP and TCP)" and dict(lines)["OSCQuery"] == "8123 (HTTP)"
    assert "9100" in dict(lines)["replies to"]
    assert labels.index("OSCQuery") == labels.index("OSC") + 2, "the OSC ports together"
    off = config.load(overrides={"osc": {"query_port": 0}}).osc
    assert dict(identity(off, "m"))["OSCQuery"] == "off"
    assert identity(config.load(overrides={"osc": {"enabled": False}}).osc, "m")[2] == ("OSC", "off")

    # On the panel: drawn with another query port, only the OSCQuery row's pixels change.
    pygame.font.init()
    overlays = Overlays(load_names(), 1080)
    other = [(k, "8999 (HTTP)" if k == "OSCQuery" else v) for k, v in lines]
    a = pygame.surfarray.array3d(overlays.panel("a", lines, scale=2))
    b = pygame.surfarray.array3d(overlays.panel("b", other, scale=2))
    assert a.shape == b.shape
    rows = sorted(set(int(y) for y in (a != b).any(axis=(0, 2)).nonzero()[0]))
    line_h = overlays.font(overlays.unit * 2).get_linesize()
    pad = overlays.unit
    row = labels.index("OSCQuery")
    assert rows and pad + row * line_h <= rows[0] and rows[-1] < pad + (row + 1) * line_h, (rows, row, line_h)
