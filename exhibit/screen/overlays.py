"""Text over the picture: captions under the tiles, the status panel, the help panel, notices.

Text is slow to render and rarely changes, so every piece is rendered once into a surface and reused: captions
once per layout, the status panel when its text changes (the caller refreshes it twice a second).
"""
from pathlib import Path

import pygame

from model import bundled

NAMES_FILE = bundled.path("assets", "countries.txt")
TEXT = (235, 235, 230)
PANEL = (0, 0, 0, 170)


def load_names(path=NAMES_FILE):
    """Caption of each tile, one per line (the 196 countries); an unreadable file means no captions, not a crash."""
    try:
        return [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError:
        return []


class Overlays:
    """Renders and caches the text layers for one screen size."""

    def __init__(self, names, screen_height):
        self.names = names
        self.unit = max(10, screen_height // 48)       # text size that reads from a few metres on any screen
        self._fonts = {}
        self._captions = (None, [])
        self._panels = {}

    def font(self, size):
        if size not in self._fonts:
            self._fonts[size] = pygame.font.Font(None, size)
        return self._fonts[size]

    def captions(self, layout):
        """[(surface, position)] for every tile with a name: a dark band at the foot of the tile, the name on it."""
        if self._captions[0] == layout:
            return self._captions[1]
        side = layout.tile
        size = max(9, round(side * 0.16))
        out = []
        for i, name in enumerate(self.names[:layout.rows * layout.cols]):
            lines = self._fit(name, size, side - 4)
            if not lines:
                continue
            height = sum(line.get_height() for line in lines) + 2
            band = pygame.Surface((side, height), pygame.SRCALPHA)
            band.fill((0, 0, 0, 140))
            y = 1
            for line in lines:
                band.blit(line, ((side - line.get_width()) // 2, y))
                y += line.get_height()
            x0, y0 = layout.position(i)
            out.append((band, (x0, y0 + side - height)))
        self._captions = (layout, out)
        return out

    def _fit(self, name, size, width):
        """The name in one line if it fits, else two, shrinking the type down to a floor; [] if nothing fits."""
        while size >= 7:
            font = self.font(size)
            one = font.render(name, True, TEXT)
            if one.get_width() <= width:
                return [one]
            words = name.split()
            if len(words) > 1:
                best = min(range(1, len(words)), key=lambda k: abs(len(" ".join(words[:k])) - len(name) / 2))
                two = [font.render(" ".join(part), True, TEXT) for part in (words[:best], words[best:])]
                if max(line.get_width() for line in two) <= width:
                    return two
            size -= 1
        return []

    def panel(self, key, lines, columns=1, scale=1):
        """A translucent box of text lines (cached by content); lines may be (left, right) pairs for two columns.
        scale: text size in units (2 reads from across a room)."""
        content = (tuple(lines), columns, scale)
        cached = self._panels.get(key)
        if cached and cached[0] == content:
            return cached[1]
        font, pad = self.font(self.unit * scale), self.unit * scale // 2
        rows = [line if isinstance(line, tuple) else (line,) for line in lines]
        rendered = [[font.render(cell, True, TEXT) for cell in row] for row in rows]
        left = max((r[0].get_width() for r in rendered if len(r) > 1), default=0)
        width = max(left + 2 * pad + r[1].get_width() if len(r) > 1 else r[0].get_width() for r in rendered)
        line_h = font.get_linesize()
        surface = pygame.Surface((width + 2 * pad, line_h * len(rendered) + 2 * pad), pygame.SRCALPHA)
        surface.fill(PANEL)
        for j, row in enumerate(rendered):
            y = pad + j * line_h
            surface.blit(row[0], (pad, y))
            if len(row) > 1:
                surface.blit(row[1], (pad + left + pad * 2, y))
        self._panels[key] = (content, surface)
        return surface
