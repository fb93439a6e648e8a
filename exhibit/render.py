"""Headless render: the show written to an MP4 or a folder of PNGs, frame-exact and repeatable.

    python -m exhibit render --out show.mp4 --seconds 30 --fps 30 --size 1920x1080 --seed 7

The same Stage as the live show, with a fixed clock: frame n is show wall time n / fps. Unlike the live show
(which never waits) the render generates, before drawing a frame, every true frame that picture needs, on a
fixed grid of show times (`[render] tile_rate` per second). So the same seed, config and commands give the
same pixels, whatever the machine's speed.
"""
import logging
from pathlib import Path

import cv2
import numpy as np
import pygame

from exhibit.show.clock import FixedClock
from exhibit.stage import Stage
from exhibit.generation.worker import GridSchedule

log = logging.getLogger("exhibit")


def frames(config, generator, size, seconds, fps, seed, commands=()):
    """Yield (index, surface) for every frame of the render. commands: [(wall seconds, Command)], in order.

    The surface is reused between frames: copy it if you keep it.
    """
    pygame.font.init()                     # no display needed: everything is drawn offscreen
    surface = pygame.Surface(size)
    stage = Stage(config, generator, size, surface, seed, notices=False)
    grid = config.grid.rows * config.grid.cols
    schedule = GridSchedule(grid, 1.0 / config.render.tile_rate, config.worker.batch)
    pending = sorted(commands, key=lambda item: item[0])
    clock = FixedClock(fps)
    for index in range(round(seconds * fps)):
        wall = clock.tick()
        while pending and pending[0][0] <= wall:
            stage.apply(pending.pop(0)[1])
        stage.show.update(wall)
        while schedule.covered() < stage.show.time or not stage.ready():
            for tiles, t in schedule.next_frames():
                stage.add([stage.generation.run(tiles, t, stage.show.psi_at(t))], retime=False)
        stage.draw(surface)
        yield index, surface


def pixels(surface):
    """The surface as uint8 [H, W, 3] RGB."""
    return np.frombuffer(pygame.image.tobytes(surface, "RGB"), np.uint8).reshape(surface.get_height(),
                                                                                  surface.get_width(), 3)


class Mp4Sink:
    """MPEG-4 through OpenCV (the codec opencv-python ships; for a master, render PNGs and encode those)."""

    def __init__(self, path, size, fps):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
        if not self.writer.isOpened():
            raise OSError(f"{self.path}: cannot write an MP4 here")

    def write(self, index, surface):
        self.writer.write(cv2.cvtColor(pixels(surface), cv2.COLOR_RGB2BGR))

    def close(self):
        self.writer.release()


class PngSink:
    """One PNG per frame: frame_000000.png, ... (lossless: the master for any encoder)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, index, surface):
        pygame.image.save(surface, str(self.folder / f"frame_{index:06d}.png"))

    def close(self):
        pass


def render(config, generator, out, size, seconds, fps, seed, commands=(), progress=None):
    """Write the render to `out` (.mp4 file, or a folder for PNGs). Returns the number of frames written."""
    out = Path(out)
    sink = Mp4Sink(out, size, fps) if out.suffix.lower() == ".mp4" else PngSink(out)
    count = 0
    try:
        for index, surface in frames(config, generator, size, seconds, fps, seed, commands):
            sink.write(index, surface)
            count += 1
            if progress:
                progress(index + 1)
    finally:
        sink.close()
    return count
