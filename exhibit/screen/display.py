"""The screen: a fullscreen window at native resolution (or a window), cursor hidden, screen saver off.

One window, managed the same way for both renderers. The CPU path (`Display`) composes the picture into the
window's own surface and presents it; the GPU path (screen/gpu.py) draws with SDL's renderer into the same kind of
window. Fullscreen must cover the screen with or without a window manager: many kiosks start the show with `xinit`
and none, and then nothing acts on SDL's "please make me fullscreen" request. So the window is first given the
screen's exact size and top-left corner, then marked fullscreen (which a window manager honours), and then takes
the keyboard focus itself (without a window manager nobody hands it over).
"""
import ctypes
import ctypes.util
import logging
import os
import signal
import sys
from pathlib import Path

import pygame

from exhibit.screen.compositor import Compositor

log = logging.getLogger("exhibit")

TITLE = "Medium · Permeation"
CENTRED_ON = 0x2FFF0000           # SDL_WINDOWPOS_CENTERED_DISPLAY(n) = this | n (SDL_video.h)


class DisplayError(RuntimeError):
    """No screen to show on; the message says what to do instead."""


NO_DISPLAY = ("no display found ({reason}). Run the exhibit on a machine with a screen attached "
              "(inside a desktop session, python -m exhibit --windowed opens a window), "
              "or write the show to a file: python -m exhibit render --out show.mp4")

DISPLAY_LOST = ("the display was lost ({name}: the X server went away, or the screen was unplugged); "
                "ending with exit status {status} so the service manager starts the show again")
LOST_STATUS = 3

# SDL falls back to these when it finds no screen; they draw into memory. Only a deliberate choice
# (SDL_VIDEODRIVER=dummy, as tests and benchmarks set) may use them for a live show.
HEADLESS_DRIVERS = ("offscreen", "dummy")


def init_video(settings):
    """Start SDL's video and check there is a real screen to show on; DisplayError says what to do if not."""
    # A kiosk must not blank: SDL's default, made explicit so no environment can turn it back on. SDL lets the
    # screen saver and DPMS run again when the window closes (pygame.display.quit).
    os.environ["SDL_VIDEO_ALLOW_SCREENSAVER"] = "0"
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
        pygame.display.quit()
        raise DisplayError(NO_DISPLAY.format(reason="the video driver reports no screens"))
    if settings.display >= count:
        pygame.display.quit()
        raise DisplayError(f"[display] display = {settings.display}: this machine has {count} screen(s); "
                           f"allowed values: 0..{count - 1} (--display)")
    pygame.display.set_allow_screensaver(False)
    pygame.font.init()
    if driver == "x11":
        end_on_lost_x11_display()


def open_window(settings, fullscreen):
    """A shown window placed by `place`: the screen's native size, or settings.window_size centred on it."""
    window = pygame.Window(TITLE, size=tuple(settings.window_size), position=(CENTRED_ON | settings.display,) * 2)
    place(window, settings, fullscreen)
    return window


def place(window, settings, fullscreen):
    """Make `window` fullscreen on screen settings.display at its native size, or a centred window; then focus it.

    SDL keeps the size and position of a fullscreen window aside for when it leaves fullscreen, so they are set
    while windowed: the window covers the screen by its own geometry even where no window manager acts on the
    fullscreen request, and a window manager that does finds it already the right size.
    """
    where = (CENTRED_ON | settings.display,) * 2      # centred: exactly the top-left corner at the screen's size
    window.set_windowed()
    if fullscreen:
        window.size = pygame.display.get_desktop_sizes()[settings.display]
        window.position = where
        window.set_fullscreen(desktop=True)
    else:
        window.size = tuple(settings.window_size)
        window.position = where
    window.show()
    window.focus()                                    # keyboard focus, even with no window manager to give it
    pygame.mouse.set_visible(not fullscreen)


class Display:
    """The CPU renderer: the picture is composed into the window's surface, then copied to the screen.

    `surface` is what the Stage draws on, `present(changed)` shows it, `picture()` reads it back; `compositor` is the
    Compositor class that draws tiles on this kind of display (GpuDisplay has its own).
    """
    kind = "cpu"
    compositor = Compositor

    def __init__(self, settings, windowed=False):
        """settings: the config's [display] namespace."""
        self.settings = settings
        init_video(settings)
        if self.driver == "x11":
            # SDL would otherwise hand the window surface to an OpenGL texture every frame and draw that (on a
            # machine without a GPU, in software: 30 ms a frame at 1080p); X11's own shared-memory image is a
            # single copy into the X server.
            os.environ.setdefault("SDL_FRAMEBUFFER_ACCELERATION", "0")
        self.fullscreen = settings.fullscreen and not windowed
        self.vsync = False            # a window surface has no vsync: the app paces itself to display.fps
        self.window = open_window(settings, self.fullscreen)
        self.surface = self.window.get_surface()

    @property
    def driver(self):
        return pygame.display.get_driver()

    @property
    def size(self):
        return self.surface.get_size()

    def resized(self):
        """The window's size changed (a window manager, a new screen): the surface to draw on now."""
        self.surface = self.window.get_surface()
        return self.surface

    def toggle_fullscreen(self):
        self.fullscreen = not self.fullscreen
        place(self.window, self.settings, self.fullscreen)
        self.surface = self.window.get_surface()
        return self.surface

    def present(self, changed=None):
        """Show the frame. changed: [(x, y, w, h)] rects that differ from the last frame, or None for all of it;
        only those are copied to the screen (SDL_UpdateWindowSurfaceRects), so the window system does less."""
        width, height = self.window.size
        if changed is None or _SDL is None or any(x + w > width or y + h > height for x, y, w, h in changed):
            self.window.flip()          # (SDL 2 does not clip a rect that lies beyond a shrunk window: X errors)
        elif changed:
            rects = (SDLRect * len(changed))(*changed)
            if _SDL.SDL_UpdateWindowSurfaceRects(_SDL.SDL_GetWindowFromID(self.window.id), rects, len(changed)):
                self.window.flip()

    def picture(self):
        """The frame on screen as a pygame Surface (screenshots, tests)."""
        return self.surface

    def close(self):
        self.window.destroy()
        pygame.display.quit()


# -- the one SDL call pygame-ce's Window lacks ------------------------------------------------------------------

class SDLRect(ctypes.Structure):
    _fields_ = [("x", ctypes.c_int), ("y", ctypes.c_int), ("w", ctypes.c_int), ("h", ctypes.c_int)]


def _sdl_library():
    """The SDL 2 library pygame has loaded, with SDL_UpdateWindowSurfaceRects; None where it cannot be found
    (then every frame is presented whole)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "libSDL2-2" in line or "libSDL2.so" in line})
        library = ctypes.CDLL(paths[0])
        library.SDL_GetWindowFromID.restype = ctypes.c_void_p
        library.SDL_GetWindowFromID.argtypes = [ctypes.c_uint32]
        library.SDL_UpdateWindowSurfaceRects.argtypes = [ctypes.c_void_p, ctypes.POINTER(SDLRect), ctypes.c_int]
        return library
    except (OSError, IndexError, AttributeError):
        return None


_SDL = _sdl_library()


# -- a display that goes away -------------------------------------------------------------------------------

_IO_ERROR_HANDLER = None          # kept alive: Xlib holds a pointer to it


def end_children():
    """SIGKILL the show's own child processes (generator, OSC receiver): there is no orderly way out from here."""
    try:
        statuses = Path("/proc").glob("[0-9]*/stat")
        children = [int(p.parent.name) for p in statuses if _parent(p) == os.getpid()]
    except OSError:
        children = []
    for pid in children:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _parent(stat):
    try:
        return int(stat.read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def end_on_lost_x11_display():
    """When the X server goes away (killed, restarted, the session ended), end with one line and LOST_STATUS.

    Xlib cannot carry on without its connection: its default handler prints a cryptic "XIO: fatal IO error" and
    calls exit(1) from inside whatever pygame call noticed, with no Python cleanup. This handler says what
    happened in words, ends the show's child processes (they would also end by themselves once their pipe to
    the show closes, but a restarted show should not find them still there), and exits with a status a service
    manager restarts on (systemd: Restart=on-failure).
    """
    global _IO_ERROR_HANDLER
    if _IO_ERROR_HANDLER is not None:
        return
    name = ctypes.util.find_library("X11") or "libX11.so.6"
    try:
        xlib = ctypes.CDLL(name)
    except OSError:
        return
    handler_type = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)

    def lost(_connection):
        print(f"exhibit: error: {DISPLAY_LOST.format(name=os.environ.get('DISPLAY', 'X11'), status=LOST_STATUS)}",
              file=sys.stderr, flush=True)
        end_children()
        os._exit(LOST_STATUS)

    _IO_ERROR_HANDLER = handler_type(lost)
    xlib.XSetIOErrorHandler.argtypes = [handler_type]
    xlib.XSetIOErrorHandler(_IO_ERROR_HANDLER)
