"""Where show time comes from: the wall clock for the live show, fixed steps for a render.

Everything downstream asks only "what time is it, in seconds since start?", so the live display and the headless
render run the same code and a render at 24 or 60 fps samples the same show.
"""
import time


class RealClock:
    """Seconds since construction, from a monotonic clock."""

    def __init__(self):
        self._start = time.perf_counter()

    def now(self):
        return time.perf_counter() - self._start


class FixedClock:
    """Frame n happens at n / fps seconds exactly, however long the frame took to make."""

    def __init__(self, fps):
        self.fps = fps
        self.frame = -1

    def now(self):
        return max(self.frame, 0) / self.fps

    def tick(self):
        self.frame += 1
        return self.now()
