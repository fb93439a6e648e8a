"""Keys become Commands: real pygame events, posted to a real (dummy) display and read back from its queue."""
import pygame
import pytest

from exhibit import commands as c
from exhibit.control.keyboard import HELP, Keyboard


@pytest.fixture(scope="module")
def display():
    pygame.display.init()
    pygame.display.set_mode((64, 64))
    yield
    pygame.display.quit()


def press(keyboard, key, mod=pygame.KMOD_NONE, scancode=0):
    """Post one key press through the display's event queue and translate what comes out."""
    pygame.event.clear()
    pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key, mod=mod, scancode=scancode, unicode=""))
    commands = []
    for event in pygame.event.get():
        commands += keyboard.commands_for(event)
    return commands


@pytest.mark.parametrize("key,want", [
    (pygame.K_SPACE, c.TogglePause()), (pygame.K_UP, c.NudgeSpeed(1)), (pygame.K_DOWN, c.NudgeSpeed(-1)),
    (pygame.K_EQUALS, c.NudgeSpeed(1)), (pygame.K_MINUS, c.NudgeSpeed(-1)), (pygame.K_KP_PLUS, c.NudgeSpeed(1)),
    (pygame.K_m, c.CycleMode()), (pygame.K_r, c.Reseed()), (pygame.K_b, c.ToggleBlackout()),
    (pygame.K_c, c.ToggleCaptions()), (pygame.K_s, c.ToggleStatus()), (pygame.K_h, c.ToggleHelp()),
    (pygame.K_F1, c.ToggleHelp()), (pygame.K_f, c.ToggleFullscreen()), (pygame.K_F11, c.ToggleFullscreen()),
    (pygame.K_p, c.Screenshot()), (pygame.K_F12, c.Screenshot()), (pygame.K_ESCAPE, c.Quit()), (pygame.K_q, c.Quit()),
])
def test_bindings(display, key, want):
    assert press(Keyboard(), key) == [want]


def test_scenes_on_digits(display):
    keys = Keyboard()
    for n in range(1, 10):
        assert press(keys, getattr(pygame, f"K_{n}")) == [c.RecallScene(n)]
        assert press(keys, getattr(pygame, f"K_{n}"), pygame.KMOD_LSHIFT) == [c.SaveScene(n)]
        assert press(keys, getattr(pygame, f"K_KP{n}")) == [c.RecallScene(n)]
    # AZERTY: the key left of '2' sends '&' and, with Shift, '1'. Matched by position, as on a US keyboard.
    assert press(keys, pygame.K_AMPERSAND, scancode=30) == [c.RecallScene(1)]
    assert press(keys, pygame.K_AMPERSAND, pygame.KMOD_RSHIFT, scancode=30) == [c.SaveScene(1)]
    assert press(keys, pygame.K_0) == [] and press(keys, pygame.K_a) == []


def test_system_shortcuts_are_left_alone(display):
    keys = Keyboard()
    assert press(keys, pygame.K_q, pygame.KMOD_LCTRL) == []
    assert press(keys, pygame.K_1, pygame.KMOD_LALT) == []
    assert press(keys, pygame.K_SPACE, pygame.KMOD_CAPS) == [c.TogglePause()]     # Caps Lock is not a shortcut


def test_kiosk_quit_needs_a_double_press(display):
    now = [100.0]
    keys = Keyboard(quit="double", clock=lambda: now[0])
    assert press(keys, pygame.K_ESCAPE) == []
    now[0] += 2.5                                               # too late: this press starts over
    assert press(keys, pygame.K_ESCAPE) == []
    now[0] += 0.4
    assert press(keys, pygame.K_q) == [c.Quit()]


def test_kiosk_quit_off_but_the_window_can_still_close(display):
    keys = Keyboard(quit="off")
    assert press(keys, pygame.K_ESCAPE) == [] and press(keys, pygame.K_ESCAPE) == []
    pygame.event.post(pygame.event.Event(pygame.QUIT))
    assert [cmd for e in pygame.event.get() for cmd in keys.commands_for(e)] == [c.Quit()]


def test_bad_policy_names_the_key():
    with pytest.raises(ValueError, match="keys.quit.*press, double, off"):
        Keyboard(quit="never")


def test_help_lists_every_binding_once():
    assert len({key for key, _ in HELP}) == len(HELP)
    assert all(key and what for key, what in HELP)


def test_row_and_column_keys_sweep_the_grid_one_line_a_press(display):
    keys = Keyboard(rows=3, cols=4)
    rows = [press(keys, pygame.K_e) for _ in range(4)]
    assert rows == [[c.ReseedTiles((0, 1, 2, 3))], [c.ReseedTiles((4, 5, 6, 7))], [c.ReseedTiles((8, 9, 10, 11))],
                    [c.ReseedTiles((0, 1, 2, 3))]], "E reseeds the rows top to bottom, then starts again"
    columns = [press(keys, pygame.K_d) for _ in range(5)]
    assert columns == [[c.ReseedTiles((0, 4, 8))], [c.ReseedTiles((1, 5, 9))], [c.ReseedTiles((2, 6, 10))],
                       [c.ReseedTiles((3, 7, 11))], [c.ReseedTiles((0, 4, 8))]]


def test_release_key_lets_every_held_tile_go(display):
    from exhibit import config
    from exhibit.show.state import Show
    show = Show(config.load(), 8, seed=3)
    for tile in (0, 17, 195):
        show.apply(c.HoldTile(tile, True))
    assert show.snapshot()["held"] == [0, 17, 195]
    (release,) = press(Keyboard(), pygame.K_u)
    assert show.apply(release) is True and show.snapshot()["held"] == []
    assert show.apply(release) is False, "nothing held: nothing to release"


def test_help_names_the_line_and_hold_keys():
    keys = dict(HELP)
    assert "row" in keys["E"] and "column" in keys["D"] and "held" in keys["U"]
