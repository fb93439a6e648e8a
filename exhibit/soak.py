"""python -m exhibit soak --minutes M: weeks of a show, fast-forwarded, watched for leaks.

The real live loop on SDL's dummy driver, played hard through Commands (as OSC and the keyboard would): speed 8,
a mode change, a reseed, a tile reseed, a scene saved or recalled every COMMAND_SECONDS, and a model swap every
minute. Every SAMPLE_SECONDS it notes, for each of our processes (the show, its generator process, the OSC
receiver), resident memory (RSS), open file descriptors and threads. At the end it prints the first and last
sample and the growth of RSS in MB per hour, a least-squares line through the second half of the run (the first
half holds warm-up: graph tracing, caches filling), and the show's C heap (glibc) at the first and last sample, in
use and free but kept: RSS that grows while Python's objects do not is there. --trace also diffs tracemalloc snapshots of the show's own
process (taken at the half and at the end) and prints the lines whose allocations grew most.
"""
import logging
import random
import shutil
import socket
import sys
import tempfile
import tracemalloc
from pathlib import Path

import numpy as np
import psutil

from exhibit import commands as c, heap

COMMAND_SECONDS = 2.0
MODEL_SECONDS = 60.0
SAMPLE_SECONDS = 10.0
SPEED = 8.0


def kind(process):
    """'show', 'generator', 'osc receiver' or None (not ours to measure, e.g. multiprocessing's tracker)."""
    line = " ".join(process.cmdline())
    if "spawn_main" in line:
        return "generator"
    if "exhibit.control.osc" in line:
        return "osc receiver"
    return None


def sample(show):
    """{kind: (rss MB, fds, threads, pid)} for the show and its children, now."""
    out = {}
    for process in [show] + show.children(recursive=True):
        try:
            name = "show" if process.pid == show.pid else kind(process)
            if name is None or process.status() == psutil.STATUS_ZOMBIE:
                continue
            fds = process.num_fds() if hasattr(process, "num_fds") else process.num_handles()
            out[name] = (process.memory_info().rss / 2**20, fds, process.num_threads(), process.pid)
        except psutil.Error:
            continue           # a generator being replaced as we look
    return out


def growth(times, values):
    """MB per hour: slope of the least-squares line through (seconds, MB)."""
    if len(times) < 3:
        return float("nan")
    return float(np.polyfit(np.asarray(times), np.asarray(values), 1)[0] * 3600)


def run(args, config, generator, seed):
    from exhibit.live import App
    from exhibit.screen.display import Display

    models = Path(tempfile.mkdtemp(prefix="permeation-soak-"))
    source = getattr(generator, "path", None)
    names = []
    if source:
        for name in ("soak-a", "soak-b"):           # two names for the same file: every swap is a real load
            shutil.copyfile(source, models / f"{name}.keras")
            names.append(name)
    config.paths.models = str(models)
    config.paths.scenes = str(models / "scenes.json")
    config.osc.port = _free_port()
    config.osc.bind = "127.0.0.1"
    config.osc.feedback_port = 0
    display = Display(config.display, windowed=True)
    app = App(config, generator, display, seed)
    rng = random.Random(seed)
    show = psutil.Process()
    samples = []                                    # (seconds, {kind: (rss, fds, threads)})
    heaps = []                                      # (seconds, the show's C heap: (in use, free kept) or None)
    marks = {}
    seconds = args.minutes * 60.0

    def on_frame(app, now):
        if not app.stage.ready():
            return True
        if not marks:
            marks.update(start=now, command=now, model=now, sample=-SAMPLE_SECONDS, k=0)
            app.queue.put(c.SetSpeed(SPEED))
        t = now - marks["start"]
        if now - marks["command"] >= COMMAND_SECONDS:
            marks["command"] = now
            marks["k"] += 1
            for command in _commands(marks["k"], rng, app):
                app.queue.put(command)
        if names and now - marks["model"] >= MODEL_SECONDS:
            marks["model"] = now
            app.queue.put(c.LoadModel(names[len(samples) % 2]))
        if t - marks["sample"] >= SAMPLE_SECONDS:
            marks["sample"] = t
            samples.append((t, sample(show)))
            heaps.append((t, heap.usage()))
            if args.trace and "half" not in marks and t >= seconds / 2:
                marks["half"] = tracemalloc.take_snapshot()
            print(f"\rsoak: {t / 60:.1f}/{args.minutes:g} min", end="", file=sys.stderr, flush=True)
        return t < seconds

    logging.getLogger("exhibit").setLevel(logging.WARNING)   # hundreds of commands: only trouble is news
    if args.trace:
        tracemalloc.start(12)
    try:
        app.run(on_frame=on_frame)
    finally:
        display.close()
        shutil.rmtree(models, ignore_errors=True)
    print(file=sys.stderr)
    if len(samples) < 2:
        print("soak: the show ended before it could be measured")
        return 1
    _report(samples, args, app)
    if heaps[0][1] is not None:
        (_, first), (_, last) = heaps[0], heaps[-1]
        print(f"the show's C heap (glibc): in use {first[0] / 2**20:.1f} -> {last[0] / 2**20:.1f} MB, free but kept "
              f"{first[1] / 2**20:.1f} -> {last[1] / 2**20:.1f} MB")
    if args.trace and "half" in marks:
        print("tracemalloc, show process, growth between the half and the end (top 12 lines):")
        for stat in tracemalloc.take_snapshot().compare_to(marks["half"], "lineno")[:12]:
            print(f"  {stat.size_diff / 2**10:+9.1f} KiB {stat.count_diff:+7d} blocks  {stat.traceback}")
    return 0


def _commands(k, rng, app):
    """What a busy evening of controllers sends, one step of it."""
    grid = app.config.grid.rows * app.config.grid.cols
    step = k % 5
    if step == 0:
        return [c.SetMode(rng.choice(["drift", "wave", "unison", "hold"]))]
    if step == 1:
        return [c.Reseed(), c.SetPsi(rng.uniform(0.5, 1.0))]
    if step == 2:
        return [c.ReseedTile(rng.randrange(grid)) for _ in range(8)]
    if step == 3:
        return [c.SaveScene(rng.randrange(1, 10)), c.SetBrightness(rng.uniform(0.6, 1.0))]
    return [c.RecallScene(rng.randrange(1, 10)), c.SetSpeed(SPEED)]


def _report(samples, args, app):
    elapsed = samples[-1][0]
    half = [(t, s) for t, s in samples if t >= elapsed / 2]
    print(f"soak: {elapsed / 60:.1f} min at speed {SPEED:g}, {app.frames} frames, {app.worker.generated} tiles, "
          f"command bursts every {COMMAND_SECONDS:g} s, a model swap every {MODEL_SECONDS:g} s")
    print(f"{'process':<14}{'RSS start':>11}{'RSS end':>10}{'growth':>14}{'fds':>10}{'threads':>10}")
    for name in ("show", "generator", "osc receiver"):
        rows = [(t, s[name]) for t, s in samples if name in s]
        if not rows:
            continue
        first, last = rows[0][1], rows[-1][1]
        late = [(t, s[name][0]) for t, s in half if name in s]
        if name == "generator":      # replaced every minute: fit each process's peak, is the next one bigger?
            peaks = {}
            for t, s in half:
                if name in s:
                    pid = s[name][3]
                    peaks[pid] = (t, max(peaks.get(pid, (t, 0.0))[1], s[name][0]))
            late = list(peaks.values())
        rate = growth([t for t, _ in late], [v for _, v in late])
        print(f"{name:<14}{first[0]:>8.1f} MB{last[0]:>7.1f} MB{rate:>+9.1f} MB/h{first[1]:>5d}->{last[1]:<4d}"
              f"{first[2]:>4d}->{last[2]:<4d}")
    print("(a generator process is replaced at every model swap: its row follows whichever one is drawing, and its "
          "growth is fitted through each one's peak)")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


