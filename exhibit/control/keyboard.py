"""Key bindings: a technician's keyboard, turned into the same Commands as OSC.

`Keyboard(quit=...).commands_for(event)` maps one pygame event to a list of Commands (usually one, often
none). Digits are matched by key and by their physical position, so scenes work on AZERTY keyboards
too, where the digit row needs Shift. Keys pressed with Ctrl, Alt or the system key are left to the
system. E and D play the grid a line at a time: each press reseeds the next row (top to bottom) or the next
column (left to right), wrapping round, so pressing E fourteen times sweeps the whole grid. Closing the window
(or the system asking the program to end) always quits; in kiosk mode only the keyboard's own quit keys are
restrained.
"""
import time

import pygame

from exhibit.commands import (
    CycleMode, Identify, NudgeSpeed, Quit, RecallScene, Reseed, ReseedTiles, SaveScene, Screenshot, SetHolds,
    TestPattern, ToggleBlackout, ToggleCaptions, ToggleFullscreen, ToggleHelp, TogglePause, ToggleStatus, column_tiles,
    row_tiles)
from exhibit.config import DOUBLE_PRESS_SECONDS, QUIT_POLICIES, SCHEMA


# For the help overlay and the README: (key, what it does).
HELP = [
    ("Space", "pause / resume"),
    ("Up / +", "faster"),
    ("Down / -", "slower"),
    ("M", "next mode: drift, wave, unison, hold"),
    ("R", "reseed: new paths for every tile"),
    ("E", "reseed the next row (top to bottom, one a press)"),
    ("D", "reseed the next column (left to right)"),
    ("U", "let every held tile move again"),
    ("B", "blackout on / off"),
    ("C", "captions on / off"),
    ("S", "status overlay on / off"),
    ("H / F1", "this help"),
    ("1-9", "recall scene"),
    ("Shift+1-9", "save scene"),
    ("F / F11", "fullscreen / window"),
    ("I", "identify: machine name, addresses, OSC and OSCQuery ports (10 s)"),
    ("T", "projector test pattern on / off"),
    ("P / F12", "screenshot"),
    ("Esc / Q", "quit (kiosk: press twice, or disabled)"),
]

ACTIONS = {
    pygame.K_SPACE: TogglePause,
    pygame.K_UP: lambda: NudgeSpeed(1), pygame.K_PLUS: lambda: NudgeSpeed(1),
    pygame.K_EQUALS: lambda: NudgeSpeed(1), pygame.K_KP_PLUS: lambda: NudgeSpeed(1),
    pygame.K_DOWN: lambda: NudgeSpeed(-1), pygame.K_MINUS: lambda: NudgeSpeed(-1),
    pygame.K_KP_MINUS: lambda: NudgeSpeed(-1),
    pygame.K_m: CycleMode,
    pygame.K_r: Reseed,
    pygame.K_u: SetHolds,
    pygame.K_b: ToggleBlackout,
    pygame.K_c: ToggleCaptions,
    pygame.K_s: ToggleStatus,
    pygame.K_h: ToggleHelp, pygame.K_F1: ToggleHelp,
    pygame.K_f: ToggleFullscreen, pygame.K_F11: ToggleFullscreen,
    pygame.K_p: Screenshot, pygame.K_F12: Screenshot,
    pygame.K_i: Identify,
    pygame.K_t: TestPattern,
}
QUIT_KEYS = (pygame.K_ESCAPE, pygame.K_q)
DIGIT_KEYS = {getattr(pygame, f"K_{n}"): n for n in range(1, 10)} | {getattr(pygame, f"K_KP{n}"): n for n in range(1, 10)}
DIGIT_SCANCODES = {29 + n: n for n in range(1, 10)}      # the digit row by position (USB HID usage 30..38)
SYSTEM_MODS = pygame.KMOD_CTRL | pygame.KMOD_ALT | pygame.KMOD_GUI


class Keyboard:
    """Turns key presses into Commands. Holds the state keys need: the last quit press, the next row and column.

    rows, cols: the grid's size (the config's grid.rows, grid.cols), for the row and column keys."""

    def __init__(self, quit="press", clock=time.monotonic, rows=SCHEMA["grid"]["rows"].default,
                 cols=SCHEMA["grid"]["cols"].default):
        if quit not in QUIT_POLICIES:
            raise ValueError(f"keys.quit = {quit!r}: allowed values: {', '.join(QUIT_POLICIES)}")
        self.quit, self.clock = quit, clock
        self.rows, self.cols = rows, cols
        self._quit_pressed = None
        self.next_row = self.next_column = 0

    def commands_for(self, event):
        if event.type == pygame.QUIT:
            return [Quit()]
        if event.type != pygame.KEYDOWN or getattr(event, "mod", 0) & SYSTEM_MODS:
            return []
        key, shift = event.key, bool(getattr(event, "mod", 0) & pygame.KMOD_SHIFT)
        digit = DIGIT_KEYS.get(key) or DIGIT_SCANCODES.get(getattr(event, "scancode", None))
        if digit:
            return [SaveScene(digit) if shift else RecallScene(digit)]
        if key in QUIT_KEYS:
            return self._quit()
        if key == pygame.K_e:
            row, self.next_row = self.next_row, (self.next_row + 1) % self.rows
            return [ReseedTiles(row_tiles(row, self.cols))]
        if key == pygame.K_d:
            column, self.next_column = self.next_column, (self.next_column + 1) % self.cols
            return [ReseedTiles(column_tiles(column, self.rows, self.cols))]
        action = ACTIONS.get(key)
        return [action()] if action else []

    def _quit(self):
        if self.quit == "off":
            return []
        if self.quit == "double":
            now, first = self.clock(), self._quit_pressed
            if first is None or now - first > DOUBLE_PRESS_SECONDS:
                self._quit_pressed = now
                return []
        return [Quit()]
