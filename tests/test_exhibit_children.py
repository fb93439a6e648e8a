"""One owner for every process the show starts: each way out returns within seconds and leaves none of them."""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pygame
import pytest

from exhibit import config
from exhibit.generation.process import RemoteGenerator
from exhibit.live import App
from exhibit.screen.display import Display
from tests.owned import ends_with_us

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "dummy", "PYTHONPATH": str(ROOT)}
GONE_SECONDS = 5.0


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def assert_gone(processes, seconds=GONE_SECONDS):
    """Every process ended (a zombie waiting for a reaper that is not ours counts as ended) within `seconds`."""
    deadline = time.monotonic() + seconds
    alive = processes
    while time.monotonic() < deadline:
        alive = [p for p in processes if _running(p)]
        if not alive:
            return
        time.sleep(0.1)
    raise AssertionError(f"still running: {[(p.pid, p.cmdline()[-1][:60]) for p in alive]}")


def _like_a_background_job():
    """Start with SIGINT ignored, as a shell hands it to a job started with `&` (a script, an .xinitrc, CI):
    the show must still end on SIGINT."""
    ends_with_us()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _running(process):
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def start_show(tmp_path, *extra, seed=3, port=None, model=None):
    """Start `python -m exhibit --windowed` (dummy video) in its own session and wait for the grid.

    seed: None starts without --seed (a resumed show keeps its own). model: a generator file (None: the bundled one).
    Returns (process, lines read, OSC port); a show that never shows its grid is killed, with its group, before the
    assertion goes up."""
    port = port or free_port()
    show = subprocess.Popen([sys.executable, "-m", "exhibit", "--windowed", *(["--model", str(model)] if model else []),
                             *(["--seed", str(seed)] if seed is not None else []), "--osc-port", str(port),
                             "--feedback-port", "0", "--set", "osc.bind=127.0.0.1", *extra],
                            cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True, preexec_fn=_like_a_background_job)
    lines = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            line = show.stdout.readline()
            lines.append(line)
            if "showing 196 tiles" in line or not line:
                break
        assert any("showing 196 tiles" in line for line in lines), "".join(lines)[-2000:]
    except BaseException:
        os.killpg(show.pid, signal.SIGKILL)
        show.communicate(timeout=30)
        raise
    return show, lines, port


@pytest.mark.parametrize("way", [
    pytest.param("SIGTERM", marks=pytest.mark.slow),
    pytest.param("SIGINT", marks=pytest.mark.slow),
    "SIGKILL", "SIGTERM to the group"])
def test_the_live_show_leaves_no_process_behind(tmp_path, way):
    """Each way a show is ended. `kill` signals the show alone; systemd and friends stop a service with SIGTERM to
    its whole process group, so its children hear it too: still a clean exit, no traceback, no orphans."""
    # The bundled model, as a kiosk starts: its first grid comes after the show's start-up is done (advertising OSC
    # briefly runs a helper process, which a small model's grid can come before and the count below would see).
    show, lines, _ = start_show(tmp_path)
    try:
        children = psutil.Process(show.pid).children(recursive=True)
        names = [" ".join(p.cmdline()) for p in children]
        # The generator process, the OSC receiver, and multiprocessing's resource tracker (which ends with us).
        assert sorted(("spawn_main" in n) + 2 * ("exhibit.control.osc" in n) + 3 * ("resource_tracker" in n)
                      for n in names) == [1, 2, 3], names
        started = time.monotonic()
        if way == "SIGTERM to the group":
            os.killpg(show.pid, signal.SIGTERM)
        else:
            os.kill(show.pid, getattr(signal, way))     # the show alone, as `kill` would
        output, _ = show.communicate(timeout=30)
        assert time.monotonic() - started < 10, "the show should end within seconds"
        assert_gone(children)
    finally:
        if show.poll() is None:      # reaped too: a zombie left here would fail later tests that count processes
            os.killpg(show.pid, signal.SIGKILL)
            show.wait()
    said = "".join(lines) + output
    for noise in ("cuInit", "absl::InitializeLog", "cudart_stub", "XDG_RUNTIME_DIR"):    # read as faults
        assert noise not in said, said[-2000:]
    choices = [line for line in said.splitlines() if line.startswith("exhibit: model: ")]
    assert len(choices) == 1, f"the model choice is logged once, not {len(choices)} times: {choices}"
    if way != "SIGKILL":
        assert show.returncode == 0, output[-2000:]
        assert "Traceback" not in output and "generation failed" not in output, output[-2000:]


def test_bench_with_osc_prints_its_result_and_exits(tmp_path, tiny_model):
    """It used to print the result and then wait forever on a generator process that ignored SIGTERM."""
    bench = subprocess.Popen([sys.executable, "-m", "exhibit", "bench", "--osc", "--seconds", "2", "--size", "320x240",
                              "--model", str(tiny_model),
                              "--set", f"osc.port={free_port()}", "--set", "osc.bind=127.0.0.1",
                              "--set", "osc.feedback_port=0"],
                             cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True, preexec_fn=ends_with_us)
    seen = {}
    try:
        deadline = time.monotonic() + 240
        while bench.poll() is None and time.monotonic() < deadline:
            for child in psutil.Process(bench.pid).children(recursive=True) if bench.poll() is None else []:
                seen.setdefault(child.pid, child)
            time.sleep(0.2)
        output, _ = bench.communicate(timeout=30)
    finally:
        if bench.poll() is None:
            os.killpg(bench.pid, signal.SIGKILL)
            bench.wait()
    assert bench.returncode == 0, output[-2000:]
    assert "osc_p50_frames=" in output.strip().splitlines()[-1], output[-2000:]
    for half in ("quiet", "flood"):      # beside the percentiles, how many probes missed the target
        assert re.search(rf"osc latency {half}: \d+ probes, .*, \d+ took 3 frames or more;", output), output[-2000:]
    assert len(seen) >= 3, "the generator, the OSC receiver and the flood should have run"
    assert_gone(list(seen.values()), seconds=1.0)


def test_render_leaves_no_process_behind(tmp_path, tiny_model):
    result = subprocess.run([sys.executable, "-m", "exhibit", "render", "--out", str(tmp_path / "frames"),
                             "--seconds", "0.2", "--fps", "10", "--size", "160x120", "--model", str(tiny_model)],
                            cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list((tmp_path / "frames").glob("*.png"))) == 2


@pytest.mark.parametrize("way", ["quit key", "exception"])
def test_the_app_closes_its_generator_process_on_quit_and_on_an_exception(tmp_path, way):
    cfg = config.load(overrides={"display": {"fullscreen": False, "window_size": [240, 180], "fps": 30},
                                 "show": {"fade_in": 0.0, "fade_out": 0.2}, "osc": {"enabled": False},
                                 "paths": {"scenes": str(tmp_path / "scenes.json")}})
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    generator = RemoteGenerator(None, resolution=32)
    ours = [p for p in psutil.Process().children(recursive=True)
            if p.pid not in before and "resource_tracker" not in " ".join(p.cmdline())]   # the tracker is pytest's
    assert len(ours) == 1
    display = Display(cfg.display)
    app = App(cfg, generator, display, seed=1)

    shown = []

    def on_frame(app, now):
        if app.stage.ready():
            shown.append(now)
            if way == "exception":
                raise RuntimeError("a bug in the loop")
            pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE, mod=0, unicode="\x1b",
                                                 scancode=0))
        return True

    started = time.monotonic()
    try:
        if way == "exception":
            with pytest.raises(RuntimeError, match="a bug in the loop"):
                app.run(seconds=120, on_frame=on_frame)
        else:
            app.run(seconds=120, on_frame=on_frame)
    finally:
        display.close()
    assert shown and time.monotonic() - started < 100
    assert_gone(ours, seconds=1.0)


def generator_processes(zombies=False):
    """Our generator processes now running (with zombies=True: also those ended but not reaped).

    Only this process's own children: a child a generator process starts for itself (a fork carries the
    generator's command line until it execs) is not a second generator."""
    found = []
    for process in psutil.Process().children():
        try:
            if process.status() == psutil.STATUS_ZOMBIE:
                if zombies:
                    found.append(process)
            elif "spawn_main" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:
            pass
    return found


@pytest.mark.slow
def test_six_model_requests_in_a_second_load_one_model_at_a_time(tmp_path):
    """A controller's button pressed six times, then once more just as the newest model takes over while the
    process it replaces is slow to end: one load in flight, the newest wins, never a third generator process."""
    import model
    from exhibit import commands as c

    models = tmp_path / "models"
    models.mkdir()
    for k in range(6):
        model.save_generator(model.new_generator(32, seed=k, width=16).network, models / f"m{k}.keras")
    cfg = config.load(overrides={"display": {"fullscreen": False, "window_size": [240, 180], "fps": 30},
                                 "show": {"fade_in": 0.0, "fade_out": 0.2}, "osc": {"enabled": False},
                                 "paths": {"scenes": str(tmp_path / "scenes.json"), "models": str(models)}})
    display = Display(cfg.display)
    app = App(cfg, RemoteGenerator(None, resolution=32), display, seed=1)
    counts, sent, crowd = [], [], []
    seen = {"phase": "start"}
    watching = threading.Event()

    def press():                                       # six presses in a second, as from a controller
        for k in range(6):
            app.queue.put(c.LoadModel(f"m{k}"))
            sent.append(time.monotonic())
            time.sleep(0.15)

    def watch():                                       # the real processes, every 20 ms, between frames too
        while not watching.wait(0.02):
            found = generator_processes()
            counts.append(len(found))
            if len(found) > 2:
                crowd.append([p.pid for p in found])

    def on_frame(app, now):
        if not app.stage.ready():
            return True
        if seen["phase"] == "start":                   # hold the picture: the generation thread goes idle
            app.queue.put(c.Pause())
            seen.update(phase="pausing", generated=app.worker.generated, since=now)
        elif seen["phase"] == "pausing":
            if app.worker.generated != seen["generated"] or app.stage.show.speed_now > 0:
                seen.update(generated=app.worker.generated, since=now)
            elif now - seen["since"] > 1.0:            # idle, so it is not waiting on the process we stop
                # The drawing process stops answering (SIGSTOP): when a new model replaces it, ending it takes
                # the whole CLOSE_SECONDS, a window in which a replaced process and a drawing one are both alive.
                seen.update(phase="pressing", stopped=psutil.Process(app.worker.generation.generator.pid))
                seen["stopped"].suspend()
                threading.Thread(target=press, daemon=True).start()
        elif seen["phase"] == "pressing" and app.stage.model_name == "m5":
            # m5 took over this frame; the stopped process it replaces is still being ended. Pressed once more:
            seen.update(phase="again", window=app.worker.swapping() and _running(seen["stopped"]))
            app.queue.put(c.LoadModel("m4"))
            sent.append(time.monotonic())
        elif seen["phase"] == "again" and app.stage.model_name == "m4":
            return now - seen.setdefault("shown", now) < 2.0     # and it goes on drawing with m4 for 2 s
        return True

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        app.run(seconds=400, on_frame=on_frame)
    finally:
        watching.set()
        watcher.join()
        display.close()
    assert seen.get("window"), "the last press came while the replaced process was still alive"
    assert app.stage.model_name == "m4" and sent[5] - sent[0] < 1.5
    assert all(n <= 2 for n in counts), f"at most the drawing generator and one other, got {crowd[:3]}"
    assert len(counts) > 100 and max(counts) == 2, "the watch saw the swaps"
    assert not _running(seen["stopped"]), "the replaced process is ended"
    assert not generator_processes(zombies=True), "every replaced process is reaped"


def test_a_stopped_generator_process_is_replaced_not_duplicated(monkeypatch, caplog):
    from exhibit.generation import process

    remote = RemoteGenerator(None, resolution=32)
    try:
        import model
        z = model.seeded_latents(1, 2, remote.z_dim)
        before = remote.generate(z)                          # the first call also traces the graph: slow
        monkeypatch.setattr(process, "ANSWER_SECONDS", 3)
        stopped = psutil.Process(remote._process.pid)
        stopped.suspend()                                   # SIGSTOP, as a debugger or a frozen driver would
        counts = []
        watching = True

        def watch():
            while watching:
                counts.append(len(generator_processes()))
                time.sleep(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            again = remote.generate(z)                       # waits 3 s, kills, restarts, draws
        finally:
            watching = False
            watcher.join()
        assert (again == before).all()
        assert not _running(stopped), "the stopped process should be killed and reaped"
        assert max(counts) == 1, "never two generator processes side by side"
        assert remote.restarts == 1
        assert any("did not answer for 3 s (stopped or hung) and was killed; restarted in" in r.message for r in caplog.records)
        remote._process.kill()                              # and one killed outright: one line, no traceback
        remote.generate(z)
        lines = [r.message for r in caplog.records if "ended (signal 9); restarted in" in r.message]
        assert len(lines) == 1 and not any(r.exc_info for r in caplog.records)
    finally:
        remote.close()
    assert not generator_processes(zombies=True)


@pytest.mark.slow
def test_soak_measures_every_process_and_leaves_none(tmp_path, tiny_model):
    # Half a minute: three samples of the show (one every 10 s) and swaps every 6 s, of a model that loads quickly.
    result = subprocess.run([sys.executable, "-m", "exhibit", "soak", "--minutes", "0.5", "--size", "320x240",
                             "--swap-minutes", "0.1", "--model", str(tiny_model)],
                            cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=400,
                            preexec_fn=ends_with_us)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()
            if line.split() and line.split()[0] in ("show", "generator", "osc")}
    assert set(rows) == {"show", "generator", "osc"}, result.stdout
    assert all("MB/h" in row for row in rows.values()) and "Traceback" not in result.stderr
    assert "the row is the generator process that drew longest" in result.stdout    # what its line means
    took_over = re.search(r"generator processes drew: the first and (\d+) that took over", result.stdout)
    assert took_over and int(took_over[1]) >= 1, result.stdout                       # swaps happened and were seen


def test_soak_refuses_a_negative_swap_interval_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "exhibit", "soak", "--swap-minutes", "-1"],
                            cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--swap-minutes: '-1': expected minutes, 0 or more" in result.stderr.splitlines()[-1]
