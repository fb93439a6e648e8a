"""Batched generation, away from the render loop.

The worker asks the choreography where a batch of tiles will be a little ahead in show time, generates those
images in one call, and hands them over with the show time they belong to. The render loop never waits for it:
each tile crossfades between the freshest true frames it has (see screen/frames.py), so when generation falls behind
the frame rate holds and only the density of true samples drops.

The worker is a thread of the show; in the live show the drawing itself happens in a generator process
(generation/process.py), so the thread mostly waits on a pipe. That keeps TensorFlow out of the show's
process, where its bundled LLVM would crash an LLVM-based graphics driver. A headless render draws in this thread.

Two schedules choose what to generate next:
  LiveSchedule  the stalest tiles first, aimed one refresh cycle ahead of show time (the live show)
  GridSchedule  every tile at fixed show times k * interval (a render: the same frames on every run)
"""
import logging
import math
import threading
import time
from collections import deque

import numpy as np

from model import ImageGenerator
from exhibit.generation.process import GeneratorProcessError

log = logging.getLogger("exhibit")


class Batch:
    """Generated frames: tile indices, the show time they show, and images (None: unchanged, reuse the last)."""
    __slots__ = ("tiles", "time", "images", "fresh")

    def __init__(self, tiles, time_, images, fresh):
        self.tiles, self.time, self.images, self.fresh = tiles, time_, images, fresh


class Generation:
    """Turns (tiles, show time) into a Batch with one generator call, skipping tiles whose latent has not moved."""

    def __init__(self, generator: ImageGenerator, choreography):
        self.generator = generator
        self.choreography = choreography
        self._last = {}                 # tile -> (latent, psi) of its newest generated image

    def set_generator(self, generator: ImageGenerator, t):
        """Draw with another model from now on; a new latent size redraws the paths in the new space."""
        if generator.z_dim != self.choreography.z_dim:
            self.choreography.reset_latent_size(generator.z_dim, t)
        self.generator = generator
        self._last.clear()

    def run(self, tiles, t, psi):
        """A Batch of the given tiles (ints [N], row-major) at show time t (seconds), truncation psi.

        Latents come from the choreography; only tiles whose (latent, psi) changed since their last image are
        drawn, in one generator call; the others get None (reuse the last image). Raises what the generator
        raises (the worker logs it and keeps the show on its last frames).
        """
        z = self.choreography.latents(t, tiles)
        moved = [i for i, tile in enumerate(tiles) if not self._same(tile, z[i], psi)]
        images = [None] * len(tiles)
        if moved:
            # Each tile keeps its own grain (its number as noise index): a shared one would repeat across the grid.
            drawn = self.generator.generate(z[moved], psi=psi, noise=np.asarray(tiles)[moved])
            for j, i in enumerate(moved):
                images[i] = drawn[j]
                self._last[int(tiles[i])] = (z[i], psi)
        return Batch(np.asarray(tiles), t, images, len(moved))

    def _same(self, tile, z, psi):
        last = self._last.get(int(tile))
        return last is not None and last[1] == psi and np.array_equal(last[0], z)


class GridSchedule:
    """Every tile at show times k * interval, k = 0, 1, 2 ...: what a render needs, independent of how fast it runs."""

    def __init__(self, n_tiles, interval, batch):
        self.n, self.interval, self.batch = n_tiles, interval, batch
        self.k = 0

    def covered(self):
        """Show time up to which every tile has its frames."""
        return (self.k - 1) * self.interval

    def next_frames(self):
        """The batches for the next grid time, in a fixed order."""
        t = self.k * self.interval
        self.k += 1
        return [(np.arange(s, min(s + self.batch, self.n)), t) for s in range(0, self.n, self.batch)]


class LiveSchedule:
    """The stalest tiles first, aimed far enough ahead that their frame is ready before the display gets there."""

    def __init__(self, n_tiles, batch):
        self.n, self.batch = n_tiles, batch
        self.target = np.full(n_tiles, -math.inf)   # show time of each tile's newest frame
        self.rate = 150.0                            # tiles/s, learnt as we go

    def next_batch(self, show_time, speed):
        """(tiles, show time) to generate next, or None when every tile already reaches far enough ahead."""
        cycle = (self.n + self.batch) / self.rate          # wall seconds until this tile comes round again
        horizon = show_time + speed * 1.25 * cycle
        tiles = np.argsort(self.target, kind="stable")[:self.batch]
        tiles = tiles[self.target[tiles] < horizon]
        if not len(tiles):
            return None
        self.target[tiles] = horizon
        return tiles, horizon

    def learn(self, tiles, seconds):
        if seconds > 0 and tiles:
            self.rate = 0.8 * self.rate + 0.2 * (tiles / seconds)

    def forget(self):
        """Regenerate every tile (a new model)."""
        self.target[:] = -math.inf


class Worker:
    """Background thread: LiveSchedule + Generation, results in a deque the render loop drains every frame."""

    def __init__(self, generation, show, n_tiles, batch):
        self.generation = generation
        self.show = show
        self.schedule = LiveSchedule(n_tiles, batch)
        self.results = deque()
        self.generated = 0                       # tiles generated since start (for tiles/s)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._new_generator = None               # the next model, until this thread switches to it
        self._retiring = None                    # the model it replaced, until this thread has closed it
        self._swap = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="generation", daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self, then=None):
        """Stop generating. then(): called once the thread has been told, before waiting for it (the show ends its
        generator processes there, which also frees a thread waiting on one)."""
        self._stop.set()
        self._wake.set()
        if then is not None:
            then()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def generators(self):
        """The generator drawing now, the one waiting to replace it and the one being closed after a swap."""
        with self._swap:
            return [g for g in (self.generation.generator, self._new_generator, self._retiring) if g is not None]

    def swapping(self):
        """True from set_generator until the model it replaces has been closed (its process ended and reaped).
        Meanwhile two generator processes are alive; the show starts no other load until this is False."""
        with self._swap:
            return self._new_generator is not None or self._retiring is not None

    def wake(self):
        """Something changed (a command): look again now rather than after the idle nap."""
        self._wake.set()

    def set_generator(self, generator):
        """Switch models between batches; every tile is regenerated. A model still waiting for its turn is
        replaced and closed: the newest wins."""
        with self._swap:
            replaced, self._new_generator = self._new_generator, generator
        if replaced is not None and hasattr(replaced, "close"):
            replaced.close()
        self._wake.set()

    def _run(self):
        while not self._stop.is_set():
            with self._swap:
                new, self._new_generator = self._new_generator, None
                if new is not None:
                    self._retiring = self.generation.generator
                    self.generation.set_generator(new, self.show.time)
            if new is not None:
                try:
                    self._retiring.close()     # only this thread draws with it, so it is ended here
                finally:
                    with self._swap:
                        self._retiring = None
                self.schedule.forget()
            show = self.show
            if show.dark() and not np.isinf(self.schedule.target).any():
                self._wake.wait(0.5)   # closed: every tile has a frame for the opening; the generator process idles
                self._wake.clear()
                continue
            # Reads of floats another thread writes: each is atomic in Python; a slightly stale value is harmless.
            request = self.schedule.next_batch(show.time, max(show.speed_now, 0.0 if show.paused else show.speed))
            if request is None:
                self._nap()
                continue
            tiles, t = request
            started = time.perf_counter()
            try:
                batch = self.generation.run(tiles, t, show.psi_at(t))
            except Exception as error:     # a broken generator must not take the show down: keep what we have
                if self._stop.is_set():
                    return                 # the show is closing its generator under us
                if isinstance(error, GeneratorProcessError):    # already explained in one line where it happened
                    log.error("generation paused: %s; the show keeps its last frames", error)
                else:
                    log.exception("generation failed; the show keeps its last frames")
                self._stop.wait(1.0)
                continue
            if batch.fresh:
                self.schedule.learn(batch.fresh, time.perf_counter() - started)
                self.generated += batch.fresh
            self.results.append(batch)
            if not batch.fresh:
                self._nap()            # holding still: nothing new to draw, check again shortly

    def _nap(self):
        self._wake.wait(0.05)
        self._wake.clear()

    def take(self):
        """All batches finished since the last call."""
        out = []
        while self.results:
            out.append(self.results.popleft())
        return out
