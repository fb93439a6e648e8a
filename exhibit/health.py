"""Health: what a technician needs to see that the show is well, from across the room or from the log.

Once a minute one heartbeat line goes to the log (stderr, the only place the show logs to: a terminal, or journald
under systemd, which rotates it, so no file of ours ever grows without bound):

    heartbeat: up 3:02:11, 59.9 fps, p99 frame 21.4 ms, 640 fresh tiles/s, memory show 98 MB + generator 612 MB
    + osc receiver 16 MB, OSC 1234 received (last from 192.168.1.20), generator restarts 0, open until 18:00

The same figures go into `/exhibit/status` (memory_mb, generator_restarts, osc_peer) and the status overlay, measured
every few seconds on the render thread (a handful of /proc reads: well under a millisecond).
"""
import logging
import statistics

import psutil

from exhibit import heap

log = logging.getLogger("exhibit")

HEARTBEAT_EVERY = 60.0     # seconds between heartbeat lines
MEASURE_EVERY = 10.0       # seconds between memory readings
MB = 1024 * 1024


def processes(app):
    """{label: psutil.Process} for the show's own process and every process it started (children's children too)."""
    known = {}
    pid = getattr(app.worker.generation.generator, "pid", None)               # a RemoteGenerator's child
    if pid:
        known[pid] = "generator"
    for source in app.inputs:
        process = getattr(source, "_process", None)                           # the OSC receiver
        if process is not None:
            known[process.pid] = "osc receiver"
    me = psutil.Process()
    found = {"show": me}
    for child in me.children(recursive=True):
        try:
            label = known.get(child.pid)
            if label is None:        # multiprocessing's helper that cleans up after the generator process
                label = "resource tracker" if "resource_tracker" in " ".join(child.cmdline()) else \
                    f"{child.name()} {child.pid}"
            found[label] = child
        except psutil.Error:          # ended between the listing and the look: nothing to report
            pass
    return found


def memory(app):
    """{label: resident set size in bytes} of each of our processes (RSS: the RAM it holds now)."""
    out = {}
    for label, process in processes(app).items():
        try:
            out[label] = process.memory_info().rss
        except psutil.Error:
            pass
    return out


class Health:
    """Frame times, generation rate, memory and restarts, gathered every frame and reported once a minute."""

    def __init__(self, app):
        self.app = app
        self.frame_times = []       # seconds between frames since the last heartbeat
        self.memory = {}
        self._last = None           # loop time of the previous frame
        self._beat = None           # (loop time, tiles generated) at the last heartbeat
        self._measured = None       # loop time of the last memory reading
        self._generator = None      # the generator whose restarts are counted now (a new model starts at 0)
        self._restarts_before = 0   # restarts of the generators before it

    def restarts(self):
        """Generator process restarts since the show started, over every model it has drawn with."""
        generator = self.app.worker.generation.generator
        if generator is not self._generator:
            self._restarts_before += getattr(self._generator, "restarts", 0)
            self._generator = generator
        return self._restarts_before + getattr(generator, "restarts", 0)

    def osc(self):
        """(datagrams received, last peer's host or "") from the OSC server, if it runs."""
        for source in self.app.inputs:
            if hasattr(source, "counts"):
                return source.counts.get("received", 0), getattr(source, "last_peer", "")
        return 0, ""

    def tick(self, now):
        """Called every frame with the loop's time in seconds."""
        if self._last is not None:
            self.frame_times.append(now - self._last)
        self._last = now
        if self._beat is None:
            self._beat = (now, self.app.worker.generated)
        if self._measured is None or now - self._measured >= MEASURE_EVERY:
            self._measured = now
            heap.trim()             # free C heap pages back to the system first (exhibit/heap.py: well under 1 ms)
            self.memory = memory(self.app)
        self.app.stage.health = {"memory_mb": round(sum(self.memory.values()) / MB, 1),
                                 "generator_restarts": self.restarts(), "osc_peer": self.osc()[1]}
        if now - self._beat[0] >= HEARTBEAT_EVERY:
            log.info("%s", self.heartbeat(now))
            self._beat = (now, self.app.worker.generated)
            self.frame_times = []

    def heartbeat(self, now):
        """The one-line report of the last minute."""
        seconds = max(now - self._beat[0], 1e-6)
        times = self.frame_times
        fps = len(times) / sum(times) if times else 0.0
        p99 = statistics.quantiles(times, n=100)[98] if len(times) >= 2 else (times[0] if times else 0.0)
        tiles = (self.app.worker.generated - self._beat[1]) / seconds
        minutes, secs = divmod(int(now), 60)
        received, peer = self.osc()
        memory = " + ".join(f"{label} {rss / MB:.0f} MB" for label, rss in self.memory.items())
        return (f"heartbeat: up {minutes // 60}:{minutes % 60:02d}:{secs:02d}, {fps:.1f} fps, "
                f"p99 frame {p99 * 1000:.1f} ms, {tiles:.0f} fresh tiles/s, memory {memory}, "
                f"OSC {received} received{f' (last from {peer})' if peer else ''}, "
                f"generator restarts {self.restarts()}, {self.app.stage.schedule or 'always open'}")
