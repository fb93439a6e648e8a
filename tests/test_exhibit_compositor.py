"""The compositor draws, and hands the screen, only what changed: and the picture is the same as a full redraw."""
import numpy as np
import pygame

from exhibit import config
from exhibit.generation.worker import Batch
from exhibit.render import pixels
from exhibit.screen.compositor import Compositor


def test_only_changed_tiles_are_redrawn_and_the_picture_matches_a_full_redraw():
    pygame.display.init()
    try:
        grid = config.load().grid
        rng = np.random.default_rng(0)
        images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
        surface = pygame.Surface((640, 480))
        compositor = Compositor((640, 480), grid, surface)
        compositor.add(Batch(list(range(196)), 0.0, [images[0]] * 196, 196), 0.0, retime=False)
        compositor.draw(surface, 0.0, 1.0)
        assert compositor.dirty is None, "the first frame is drawn whole"
        compositor.draw(surface, 0.1, 1.0)
        assert compositor.dirty == [], "nothing moved: nothing to draw or present"
        compositor.add(Batch([5, 17], 1.0, [images[1], images[2]], 2), 0.1, retime=False)
        compositor.draw(surface, 0.6, 1.0)                  # tiles 5 and 17 halfway through their crossfade
        side = compositor.layout.tile
        assert compositor.dirty == [(*compositor.layout.position(i), side, side) for i in (5, 17)]
        compositor.draw(surface, 0.6, 1.0)
        assert compositor.dirty == []

        whole = pygame.Surface((640, 480))
        compositor.invalidate()
        compositor.draw(whole, 0.6, 1.0)
        assert compositor.dirty is None
        assert np.array_equal(pixels(surface), pixels(whole))
        compositor.draw(whole, 0.6, 1.5)                      # light: everything changes
        assert compositor.dirty is None
    finally:
        pygame.display.quit()


def test_a_steady_light_lights_only_the_tiles_that_moved_and_matches_a_full_redraw():
    pygame.display.init()
    try:
        grid = config.load().grid
        rng = np.random.default_rng(1)
        images = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(3)]
        for light in (0.5, 1.5):
            surface = pygame.Surface((640, 480))
            compositor = Compositor((640, 480), grid, surface)
            compositor.add(Batch(list(range(196)), 0.0, [images[0]] * 196, 196), 0.0, retime=False)
            compositor.draw(surface, 0.0, light)
            assert compositor.dirty is None, "a new light is drawn whole"
            compositor.draw(surface, 0.1, light)
            assert compositor.dirty == [], "a dimmed grid that holds still costs nothing"
            compositor.add(Batch([5, 17], 1.0, [images[1], images[2]], 2), 0.1, retime=False)
            for t in (0.4, 0.6, 0.8):                         # tiles 5 and 17 crossfade under the same light
                compositor.draw(surface, t, light)
                assert len(compositor.dirty) == 2

            whole = pygame.Surface((640, 480))
            fresh = Compositor((640, 480), grid, whole)
            fresh.add(Batch(list(range(196)), 0.0, [images[0]] * 196, 196), 0.0, retime=False)
            fresh.add(Batch([5, 17], 1.0, [images[1], images[2]], 2), 0.1, retime=False)
            fresh.draw(whole, 0.8, light)
            # gutters and still tiles lit once, not once a frame; moving tiles lit as a full redraw lights them
            assert np.array_equal(pixels(surface), pixels(whole)), f"light {light}"
    finally:
        pygame.display.quit()
