"""The GPU path: the same grid drawn with SDL's renderer (`pygame._sdl2.video`), where the screen has one.

A tile image is uploaded as a small texture once, when it arrives; the GPU scales it to the tile (linear
filtering) and blends the crossfade, so a display frame costs the CPU a few hundred draw calls at any screen
size. Overlays are pygame surfaces turned into textures when their content changes. Used when the video
driver offers a hardware-accelerated renderer (`display.renderer = "auto"`), or always with "gpu" (on a
machine without one SDL then renders in software: slower, but the same picture).
"""
import os

import numpy as np
import pygame
from pygame._sdl2 import video

from exhibit.screen.compositor import Compositor, TileImage
from exhibit.screen.display import DisplayError, init_video, open_window, place

BLEND, ADD = 1, 2                 # SDL_BLENDMODE_BLEND, SDL_BLENDMODE_ADD


class Canvas:
    """What the Stage draws overlays on: blit() takes pygame surfaces and draws them as (cached) textures."""

    def __init__(self, renderer, size):
        self.renderer, self.size = renderer, size
        self._textures = {}

    def texture(self, surface):
        cached = self._textures.get(id(surface))
        if cached is None or cached[0] is not surface:
            if len(self._textures) > 512:
                self._textures.clear()
            texture = video.Texture.from_surface(self.renderer, surface)
            texture.blend_mode = BLEND
            cached = self._textures[id(surface)] = (surface, texture)
        return cached[1]

    def release(self):
        self._textures.clear()

    def blit(self, surface, position):
        self.texture(surface).draw(dstrect=surface.get_rect(topleft=tuple(position)[:2]))

    def blits(self, pairs, doreturn=False):
        for surface, position in pairs:
            self.blit(surface, position)

    def get_size(self):
        return self.size

    def get_width(self):
        return self.size[0]

    def get_height(self):
        return self.size[1]

    def get_rect(self):
        return pygame.Rect((0, 0), self.size)


class GpuDisplay:
    """A window with an SDL renderer; same interface as display.Display, drawn by GpuCompositor."""
    kind = "gpu"

    @property
    def compositor(self):
        return GpuCompositor

    def __init__(self, settings, windowed=False, require_hardware=True):
        os.environ.setdefault("SDL_RENDER_SCALE_QUALITY", "linear")      # tiles scale smoothly on the GPU
        self.settings = settings
        init_video(settings)
        self.fullscreen = settings.fullscreen and not windowed
        self.window = open_window(settings, self.fullscreen)
        try:
            self.renderer = video.Renderer(self.window, accelerated=1 if require_hardware else -1,
                                           vsync=settings.vsync)
        except pygame.error:
            self.window.destroy()
            raise
        self.vsync = settings.vsync
        self.surface = Canvas(self.renderer, self.window.size)

    @property
    def driver(self):
        return pygame.display.get_driver()

    @property
    def size(self):
        return self.surface.size

    def resized(self):
        """The window's size changed (a window manager, a new screen): the canvas to draw on now."""
        if tuple(self.window.size) != self.surface.size:
            self.surface = Canvas(self.renderer, tuple(self.window.size))
        return self.surface

    def toggle_fullscreen(self):
        self.fullscreen = not self.fullscreen
        place(self.window, self.settings, self.fullscreen)
        self.surface = Canvas(self.renderer, tuple(self.window.size))
        return self.surface

    def present(self, changed=None):
        """Show the frame (the renderer draws every frame whole: `changed` is not needed)."""
        self.renderer.present()

    def picture(self):
        """The frame on screen as a pygame Surface (screenshots, tests)."""
        return self.renderer.to_surface()

    def close(self):
        """Textures die with their renderer: release ours first (the app releases the tiles' when it stops)."""
        self.surface.release()
        self.window.destroy()
        pygame.display.quit()


class GpuCompositor(Compositor):
    """Compositor whose tile images are textures, scaled and blended by the renderer."""

    def prepare(self, rgb):
        surface = pygame.image.frombuffer(np.ascontiguousarray(rgb), rgb.shape[1::-1], "RGB")
        texture = video.Texture.from_surface(self.target.renderer, surface)
        texture.blend_mode = BLEND
        return TileImage(rgb, texture)

    def draw(self, canvas, t, light, captions=None):
        """As Compositor.draw: the whole picture, gutters and margins too, times `light`. Below 1 the grid is
        drawn at full light and then darkened once, so gutters start from the plain background colour."""
        renderer, side = canvas.renderer, self.layout.tile
        renderer.draw_color = (*[min(255, round(v * light)) for v in self.grid.background], 255)
        renderer.clear()
        if light <= 0.0:
            return
        if light < 1.0:
            renderer.draw_color = (*self.grid.background, 255)
            renderer.fill_rect(self.layout.grid_rect)
        boost = max(0.0, light - 1.0)          # above 1: the tiles are added once more, scaled by the excess
        for (x, y), track in zip(self.layout.positions, self.frames.tracks):
            a, b, w = track.sample(t)
            if a is None:
                continue
            dst = (x, y, side, side)
            layers = [(a.surface, 1.0 - w), (b.surface, w)] if b is not None else [(a.surface, 1.0)]
            for k, (texture, weight) in enumerate(layers):
                texture.blend_mode, texture.alpha = BLEND, 255 if k == 0 else round(weight * 255)
                texture.draw(dstrect=dst)
            for texture, weight in layers if boost else ():
                texture.blend_mode, texture.alpha = ADD, round(min(1.0, boost * weight) * 255)
                texture.draw(dstrect=dst)
        if captions:
            canvas.blits(captions)
        if light < 1.0:
            renderer.draw_blend_mode = BLEND
            renderer.draw_color = (0, 0, 0, round((1.0 - light) * 255))
            renderer.fill_rect(self.layout.grid_rect)

    def invalidate(self):
        pass                                     # the renderer clears every frame


# OpenGL implementations that rasterise on the CPU. SDL calls their renderer "accelerated", but on a machine
# without a GPU the CPU path is much cheaper: it composes only the tiles, and hands the window system one image.
SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software rasterizer")


def software_gl():
    """The name of the OpenGL renderer SDL's renderer would use if it rasterises on the CPU (Mesa's llvmpipe under
    Xvfb or on a machine without a GPU driver), else "" (a real GPU, or no OpenGL: Direct3D, Metal)."""
    try:
        import ctypes
        gl = ctypes.CDLL("libGL.so.1")
    except OSError:
        return ""
    gl.glGetString.restype = ctypes.c_char_p
    window = pygame.Window("probe", (16, 16), hidden=True)
    try:
        renderer = video.Renderer(window, accelerated=1)     # makes its OpenGL context current, if it has one
        name = (gl.glGetString(0x1F01) or b"").decode(errors="replace")          # GL_RENDERER
        del renderer
    except pygame.error:
        name = ""
    finally:
        window.destroy()
    return name if any(kind in name.lower() for kind in SOFTWARE_GL) else ""


def open_display(settings, windowed=False):
    """The GPU display where it can be had (see module doc), else the CPU one."""
    from exhibit.screen.display import Display, log

    choice = settings.renderer
    if choice == "cpu" or choice == "auto" and os.environ.get("SDL_VIDEODRIVER") == "dummy":
        return Display(settings, windowed)
    if choice == "auto":
        init_video(settings)
        software = software_gl()
        if software:
            log.info("no GPU here (OpenGL is %s, on the CPU): drawing with the CPU renderer", software)
            return Display(settings, windowed)
    try:
        return GpuDisplay(settings, windowed, require_hardware=choice == "auto")
    except pygame.error as error:
        if choice == "gpu":
            raise DisplayError(f"[display] renderer = \"gpu\": no SDL renderer here ({error}); "
                               f"allowed values: auto, gpu, cpu") from None
        return Display(settings, windowed)
