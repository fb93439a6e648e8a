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
