"""The compositor draws, and hands the screen, only what changed: and the picture is the same as a full redraw."""
import numpy as np
import pygame
import pytest

from exhibit import config
from exhibit.generation.worker import Batch
from exhibit.render import pixels
from exhibit.screen.compositor import Compositor

SIZE = (640, 480)


@pytest.fixture
def images():
    """Three 64 px images; pygame's display module up (for pixel formats) for the test's length."""
    pygame.display.init()
    rng = np.random.default_rng(0)
    yield [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
    pygame.display.quit()


def grid_on(surface, images):
    """A Compositor drawing to `surface` whose 196 tiles all show images[0] from show time 0."""
    compositor = Compositor(SIZE, config.load().grid, surface)
    compositor.add(Batch(list(range(196)), 0.0, [images[0]] * 196, 196), 0.0, retime=False)
    return compositor


def crossfade(compositor, images):
    """Tiles 5 and 17 get new images for show time 1.0, crossfading from 0.1 on."""
    compositor.add(Batch([5, 17], 1.0, [images[1], images[2]], 2), 0.1, retime=False)


def test_only_changed_tiles_are_redrawn_and_the_picture_matches_a_full_redraw(images):
    surface = pygame.Surface(SIZE)
    compositor = grid_on(surface, images)
    compositor.draw(surface, 0.0, 1.0)
    assert compositor.dirty is None, "the first frame is drawn whole"
    compositor.draw(surface, 0.1, 1.0)
    assert compositor.dirty == [], "nothing moved: nothing to draw or present"
    crossfade(compositor, images)
    compositor.draw(surface, 0.6, 1.0)                  # tiles 5 and 17 halfway through their crossfade
    side = compositor.layout.tile
    assert compositor.dirty == [(*compositor.layout.position(i), side, side) for i in (5, 17)]
    compositor.draw(surface, 0.6, 1.0)
    assert compositor.dirty == []

    whole = pygame.Surface(SIZE)
    compositor.invalidate()
    compositor.draw(whole, 0.6, 1.0)
    assert compositor.dirty is None
    assert np.array_equal(pixels(surface), pixels(whole))
    compositor.draw(whole, 0.6, 1.5)                      # light: everything changes
    assert compositor.dirty is None


@pytest.mark.parametrize("light", [0.5, 1.5])
def test_a_steady_light_lights_only_the_tiles_that_moved_and_matches_a_full_redraw(images, light):
    surface = pygame.Surface(SIZE)
    compositor = grid_on(surface, images)
    compositor.draw(surface, 0.0, light)
    assert compositor.dirty is None, "a new light is drawn whole"
    compositor.draw(surface, 0.1, light)
    assert compositor.dirty == [], "a dimmed grid that holds still costs nothing"
    crossfade(compositor, images)
    for t in (0.4, 0.6, 0.8):                         # tiles 5 and 17 crossfade under the same light
        compositor.draw(surface, t, light)
        assert len(compositor.dirty) == 2

    whole = pygame.Surface(SIZE)
    fresh = grid_on(whole, images)
    crossfade(fresh, images)
    fresh.draw(whole, 0.8, light)
    # gutters and still tiles lit once, not once a frame; moving tiles lit as a full redraw lights them
    assert np.array_equal(pixels(surface), pixels(whole))


@pytest.mark.parametrize("light", [0.5, 1.0, 1.5])
def test_a_whole_redraw_covers_every_pixel_and_lights_the_gutters_once(images, light):
    """A whole redraw fills only what no tile covers: over a screen left full of something else (an overlay, an
    old layout) the picture is the same as on a fresh one, and gutters, margins and a tile with no frame yet
    have the background colour under the light."""
    fresh, stale = pygame.Surface(SIZE), pygame.Surface(SIZE)
    stale.fill((200, 30, 90))
    for surface in (fresh, stale):
        compositor = grid_on(surface, images)
        compositor.frames.tracks[7] = type(compositor.frames.tracks[7])()     # tile 7: no frame yet
        compositor.draw(surface, 0.0, light)
    assert np.array_equal(pixels(fresh), pixels(stale))

    layout, background = compositor.layout, config.load().grid.background
    lit = [min(255, round(v * light)) for v in background]
    x, y = layout.position(7)
    gutter = layout.position(1)[0] - layout.gap, layout.position(1)[1] + 3
    for where in ((0, 0), (SIZE[0] - 1, SIZE[1] - 1), gutter, (x + layout.tile // 2, y + layout.tile // 2)):
        assert list(stale.get_at(where))[:3] == lit, where
    x0, y0 = layout.position(0)
    assert pixels(stale)[y0:y0 + layout.tile, x0:x0 + layout.tile].std() > 5, "tile 0 shows its picture"

    stale.fill((200, 30, 90), (0, 0, 8, 8))               # an overlay in the margin, gone the next frame
    compositor.invalidate()
    compositor.draw(stale, 0.0, light)
    assert list(stale.get_at((0, 0)))[:3] == lit
