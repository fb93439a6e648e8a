"""The screen: a fullscreen window at native resolution (or a window), cursor hidden, screensaver off.

The picture is composed on the CPU into the window's own surface and flipped. With vsync the flip waits for
the screen's refresh; where the driver cannot sync (the dummy driver used for tests and benchmarks) the app
paces itself to the configured frame rate.
"""
import logging
import os

import pygame

from exhibit.screen.compositor import Compositor

log = logging.getLogger("exhibit")


class DisplayError(RuntimeError):
    """No screen to show on; the message says what to do instead."""


NO_DISPLAY = ("no display found ({reason}). Run the exhibit on a machine with a screen attached "
              "(inside a desktop session, python -m exhibit --windowed opens a window), "
              "or write the show to a file: python -m exhibit render --out show.mp4")


# SDL falls back to these when it finds no screen; they draw into memory. Only a deliberate choice
# (SDL_VIDEODRIVER=dummy, as tests and benchmarks set) may use them for a live show.
HEADLESS_DRIVERS = ("offscreen", "dummy")


def init_video(settings):
    """Start SDL's video and check there is a real screen to show on; DisplayError says what to do if not."""
    try:
        pygame.display.init()
    except pygame.error as error:
        raise DisplayError(NO_DISPLAY.format(reason=error)) from None
    driver = pygame.display.get_driver()
    if driver in HEADLESS_DRIVERS and os.environ.get("SDL_VIDEODRIVER", "").lower() != driver:
        pygame.display.quit()
        raise DisplayError(NO_DISPLAY.format(reason=f"SDL found no screen and fell back to its {driver} driver"))
    count = pygame.display.get_num_displays()
    if count < 1:
        raise DisplayError(NO_DISPLAY.format(reason="the video driver reports no screens"))
    if settings.display >= count:
        raise DisplayError(f"[display] display = {settings.display}: this machine has {count} screen(s); "
                           f"allowed values: 0..{count - 1}")
    pygame.display.set_allow_screensaver(False)
    pygame.font.init()


class Display:
    """The window the live show draws on, composed on the CPU into the window's surface.

    `surface` is what the Stage draws on, `present()` shows it, `picture()` reads it back; `compositor` is the
    Compositor class that draws tiles on this kind of display (GpuDisplay has its own).
    """
    kind = "cpu"
    compositor = Compositor

    def __init__(self, settings, windowed=False):
        """settings: the config's [display] namespace."""
        self.settings = settings
        init_video(settings)
        self.fullscreen = settings.fullscreen and not windowed
        self.vsync = False
        self.surface = None
        self.open()
        pygame.display.set_caption("Medium · Permeation")
        pygame.mouse.set_visible(False)

    @property
    def driver(self):
        return pygame.display.get_driver()

    @property
    def size(self):
        return self.surface.get_size()

    def open(self):
        """(Re)create the window for the current fullscreen setting."""
        if self.fullscreen:
            size = pygame.display.get_desktop_sizes()[self.settings.display]
            flags = pygame.FULLSCREEN
        else:
            size, flags = self.settings.window_size, 0
        self.surface, self.vsync = None, False
        if self.settings.vsync and self.driver != "dummy":
            try:
                self.surface = pygame.display.set_mode(size, flags, display=self.settings.display, vsync=1)
                self.vsync = True
            except pygame.error as error:
                log.info("vsync unavailable (%s); pacing by the clock", error)
        if self.surface is None:
            try:
                self.surface = pygame.display.set_mode(size, flags, display=self.settings.display)
            except pygame.error as error:
                raise DisplayError(NO_DISPLAY.format(reason=error)) from None
        return self.surface

    def toggle_fullscreen(self):
        self.fullscreen = not self.fullscreen
        return self.open()

    def present(self):
        pygame.display.flip()

    def picture(self):
        """The frame on screen as a pygame Surface (screenshots, tests)."""
        return self.surface

    def close(self):
        pygame.display.quit()

