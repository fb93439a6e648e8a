"""python -m exhibit soak --minutes M: weeks of a show, fast-forwarded, watched for leaks.

The real live loop on SDL's dummy driver, played hard through Commands (as OSC and the keyboard would): speed 8,
a mode change, a reseed, a tile reseed, a scene saved or recalled every COMMAND_SECONDS, and a model swap
--swap-minutes after the last one took over (default 1; 0: none; on a slow machine a load can take longer than a
minute, and a swap asked for every minute would replace each load before it finished, so none would happen).
Every SAMPLE_SECONDS it notes, for the show's process and the OSC receiver, resident memory (RSS), open file
descriptors and threads. At the end it prints the first and last sample and the growth of RSS in MB per hour, a
least-squares line through the second half of the run (the first half holds warm-up: graph tracing, caches
filling), and the show's C heap (glibc) at the first and last sample, in use and free but kept: RSS that grows
while Python's objects do not is there. --trace also diffs tracemalloc snapshots of
the show's own process (taken at the half and at the end) and prints the lines whose allocations grew most.

Each model swap replaces the generator process, so there is no one generator to draw a line through. Every
GENERATOR_SAMPLE_SECONDS the soak samples the process drawing at that moment, and reports two things: the one that
drew longest, measured as the show is (its growth fitted through the second half of its life), and every process
one after another (RSS at its first and last sample while drawing, fitted in MB per new process: does each one start
bigger than the one before?). A one-minute life is too short to show a few MB per hour; `--swap-minutes 0` keeps
one generator process for the whole run, so its row measures what weeks without a swap would do to it.
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
SAMPLE_SECONDS = 10.0
GENERATOR_SAMPLE_SECONDS = 2.0      # a generator process may live one minute: enough points to fit its half
LONG_LIFE_MINUTES = 10.0            # a shorter life cannot show growth of a few MB per hour
SPEED = 8.0


def kind(process):
    """'show', 'generator', 'osc receiver' or None (not ours to measure, e.g. multiprocessing's tracker)."""
    line = " ".join(process.cmdline())
    if "spawn_main" in line:
        return "generator"
    if "exhibit.control.osc" in line:
        return "osc receiver"
    return None


def measure(process):
    """(RSS MB, open fds, threads) of a psutil.Process now. Raises psutil.Error if it has ended."""
    fds = process.num_fds() if hasattr(process, "num_fds") else process.num_handles()
    return process.memory_info().rss / 2**20, fds, process.num_threads()


def sample(show):
    """{kind: (rss MB, fds, threads)} for the show and its OSC receiver, now (generators: see Generators)."""
    out = {}
    for process in [show] + show.children(recursive=True):
        try:
            name = "show" if process.pid == show.pid else kind(process)
            if name not in ("show", "osc receiver") or process.status() == psutil.STATUS_ZOMBIE:
                continue
            out[name] = measure(process)
        except psutil.Error:
            continue
    return out


class Generators:
    """Samples of each generator process while it draws: {pid: [(seconds, rss MB, fds, threads)]}, in the order
    they drew. A process loading beside the drawing one is not sampled: it has not begun its working life."""

    def __init__(self):
        self.lives = {}
        self._process = None

    def sample(self, t, generator):
        pid = getattr(generator, "pid", None)
        if pid is None:
            return
        try:
            if self._process is None or self._process.pid != pid:
                self._process = psutil.Process(pid)
            self.lives.setdefault(pid, []).append((t, *measure(self._process)))
        except psutil.Error:
            pass              # replaced as we looked


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
    config.osc.query_port = _free_port(socket.SOCK_STREAM)
    display = Display(config.display, windowed=True)
    app = App(config, generator, display, seed)
    rng = random.Random(seed)
    show = psutil.Process()
    samples = []                                    # (seconds, {kind: (rss, fds, threads)})
    heaps = []                                      # (seconds, the show's C heap: (in use, free kept) or None)
    generators = Generators()
    swap_seconds = args.swap_minutes * 60.0
    marks = {}
    seconds = args.minutes * 60.0
    outcomes = []                                   # how each model swap ended: True took over, False failed

    def on_result(command, error, done):
        if isinstance(command, c.LoadModel):
            outcomes.append(error is None)

    app.on_result.append(on_result)

    def on_frame(app, now):
        if not app.stage.ready():
            return True
        if not marks:
            marks.update(start=now, command=now, model=now, sample=-SAMPLE_SECONDS,
                         generator=-GENERATOR_SAMPLE_SECONDS, k=0, swaps=0, loading=False)
            app.queue.put(c.SetSpeed(SPEED))
        t = now - marks["start"]
        if now - marks["command"] >= COMMAND_SECONDS:
            marks["command"] = now
            marks["k"] += 1
            for command in _commands(marks["k"], rng, app):
                app.queue.put(command)
        if marks["loading"] and len(outcomes) == marks["swaps"]:     # the swap ended: the next one is due later
            marks.update(loading=False, model=now)
        if names and swap_seconds and not marks["loading"] and now - marks["model"] >= swap_seconds:
            marks["swaps"] += 1
            marks["loading"] = True
            app.queue.put(c.LoadModel(names[marks["swaps"] % 2]))
        if t - marks["generator"] >= GENERATOR_SAMPLE_SECONDS:
            marks["generator"] = t
            generators.sample(t, app.worker.generation.generator)
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
    _report_generators(generators.lives, outcomes)
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
    swaps = f"a model swap {args.swap_minutes:g} min after the last one took over" if args.swap_minutes else \
        "no model swap"
    print(f"soak: {elapsed / 60:.1f} min at speed {SPEED:g}, {app.frames} frames, {app.worker.generated} tiles, "
          f"command bursts every {COMMAND_SECONDS:g} s, {swaps}")
    print(f"{'process':<14}{'RSS start':>11}{'RSS end':>10}{'growth':>14}{'fds':>10}{'threads':>10}")
    for name in ("show", "osc receiver"):
        rows = [(t, s[name]) for t, s in samples if name in s]
        if rows:
            late = [(t, s[name][0]) for t, s in half if name in s]
            _row(name, rows[0][1], rows[-1][1], growth([t for t, _ in late], [v for _, v in late]))


def _row(name, first, last, rate):
    """One line of the table: first and last (rss MB, fds, threads), growth in MB/h."""
    print(f"{name:<14}{first[0]:>8.1f} MB{last[0]:>7.1f} MB{rate:>+9.1f} MB/h{first[1]:>5d}->{last[1]:<4d}"
          f"{first[2]:>4d}->{last[2]:<4d}")


def _report_generators(lives, outcomes):
    """The generator's row (the process that drew longest) and each process's figures one after another.
    lives: {pid: [(seconds, rss MB, fds, threads)]} from Generators; outcomes: each finished model swap, True if the
    new model took over, False if it failed."""
    lives = [samples for samples in lives.values() if len(samples) >= 2]
    if not lives:
        print("generator: no generator process drew long enough to be measured")
        return
    longest = max(lives, key=lambda samples: samples[-1][0] - samples[0][0])
    born, died = longest[0][0], longest[-1][0]
    late = [(t, rss) for t, rss, _, _ in longest if t >= (born + died) / 2]
    _row("generator", longest[0][1:], longest[-1][1:], growth([t for t, _ in late], [v for _, v in late]))
    life = (died - born) / 60
    print(f"generator: the row is the generator process that drew longest ({life:.1f} min), sampled every "
          f"{GENERATOR_SAMPLE_SECONDS:g} s while drawing;\n  its growth is fitted through the second half of its life "
          f"(the first holds warm-up), as the show's is.")
    if life < LONG_LIFE_MINUTES:
        print(f"  {life:.1f} min is too short to show growth of a few MB/h: `soak --swap-minutes 0` keeps one "
              f"generator process for the whole run.")
    if outcomes:
        print(f"  {len(lives)} generator processes drew: the first and {sum(outcomes)} that took over at a model swap"
              f"{f' ({outcomes.count(False)} swaps failed)' if not all(outcomes) else ''}.")
    if len(lives) < 3:
        return
    print("  Each new model is a new process: does each new one start, or end, bigger than the one before?")
    # The first began drawing before the soak measured; the last was cut short by the end of the run.
    for label, k, group in (("when it began drawing", 0, lives[1:]), ("at the end of its life", -1, lives[:-1])):
        rss = [samples[k][1] for samples in group]
        per_swap = float(np.polyfit(np.arange(len(rss)), rss, 1)[0])
        fds = sorted(samples[k][2] for samples in group)
        threads = sorted(samples[k][3] for samples in group)
        print(f"  RSS {label}: first {rss[0]:.1f}, median {np.median(rss):.1f}, last {rss[-1]:.1f} MB, fitted "
              f"{per_swap:+.1f} MB per new process; fds {fds[0]}..{fds[-1]}, threads {threads[0]}..{threads[-1]}")


def _free_port(kind=socket.SOCK_DGRAM):
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


