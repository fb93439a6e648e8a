"""The trainer end to end: real runs of `python -m train` on a real (odd) image folder, at tiny sizes."""
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.images import make_image_folder
from tests.owned import ends_with_us
from train.children import owned_environment

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--resolution", "32", "--width", "16", "--batch-size", "8"]


def train_command(data, out, *extra):
    return [sys.executable, "-m", "train", "--data", str(data), "--out", str(out), *TINY, *extra]


def run(command, timeout=300, env=None):
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("art")
    make_image_folder(root)
    return root


SMALL = "[data]\nmin_images = 4\n[output]\nlog_every_seconds = 0\n"


@pytest.fixture(scope="module")
def small_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "small.toml"
    path.write_text(SMALL)
    return path


def wait_for(predicate, process, timeout=900):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        if process.poll() is not None:
            raise AssertionError(f"training ended early: {process.communicate()[0][-3000:]}")
        time.sleep(0.2)
    process.kill()
    raise AssertionError("timed out waiting for training")


def test_two_replicas_train_with_finite_losses_and_stay_identical():
    result = run([sys.executable, str(ROOT / "tests" / "replica_probe.py")], timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["finite"], report["losses"]
    assert all(count == 0 for step in report["broken_replicas"] for count in step.values()), report
    assert set(report["broken_replicas"][0]) == {"D loss", "G loss", "R1 penalty", "weights"}
    # One replica's copy poisoned: its D loss (on generated images) goes NaN, the other replica's does not.
    assert report["poisoned"]["D loss"] == 1, report["poisoned"]
    assert report["moved"] > 0, "the generator's weights changed"
    for group, difference in report["differences"].items():
        assert difference == 0.0, f"{group} differs between replicas by {difference}"


def test_a_run_is_stopped_by_sigterm_killed_and_resumed_to_the_end(image_folder, tmp_path):
    out = tmp_path / "run"
    config = tmp_path / "small.toml"
    config.write_text(SMALL)    # R1 every 4 steps, as by default: the speed line waits for a whole R1 cycle
    # One device: stopping, killing and resuming do not depend on the replica count (the two-replica probe, the
    # diverging run, the two-worker cluster and the notebook train mirrored), and a mirrored step traces slower.
    steps = 16                  # a checkpoint every 4: a SIGTERM, a kill -9 and a resume each find one ahead
    command = train_command(image_folder, out, "--config", str(config), "--steps", str(steps),
                            "--checkpoint-every", "4", "--sample-every", "4")

    # 1. SIGTERM (a shutdown, or Ctrl-C) after the first checkpoint: the run saves where it is and says so.
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=ends_with_us)
    wait_for(lambda: (out / "checkpoints" / "step-00000004.npz").exists(), process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output[-3000:]
    assert "stopping after this step, saving a checkpoint…" in output
    assert output.index("stopping after this step") < output.index("checkpoint saved. Run the same command to resume.")
    assert "skipped" in output and "empty.png" in output, "broken files are listed at the start"
    stopped_at = json.loads((out / "summary.json").read_text())["step"]
    assert 4 <= stopped_at < steps

    # 2. kill -9 in the middle of the resumed run: at most one interval is lost, nothing left broken.
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               preexec_fn=ends_with_us)
    next_checkpoint = (stopped_at // 4 + 1) * 4
    wait_for(lambda: (out / "checkpoints" / f"step-{next_checkpoint:08d}.npz").exists(), process)
    process.kill()
    process.communicate(timeout=60)
    # The generator file as the kill left it, loaded in step 4.
    after_kill = Path(shutil.copy(out / "generator.keras", tmp_path / "after-kill.keras"))

    # 3. The same command again resumes from the latest checkpoint and finishes.
    resumed = run(command)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    resumed_from = int(re.search(r"resuming from step-\d+\.npz at step (\d+)", resumed.stdout).group(1))
    assert resumed_from >= next_checkpoint
    # Speed and ETA only once the step is traced (one trace serves the steps with and without R1) and a whole R1
    # cycle is timed.
    progress = [line for line in resumed.stdout.splitlines() if re.match(rf"step \d+/{steps}  ", line)]
    assert "training step ready" in progress[0]
    for line in progress:   # the traced step, then one R1 cycle of 4 steps timed
        if "img/s" in line or "ETA" in line:
            assert int(line.split()[1].split("/")[0]) >= resumed_from + 1 + 4, progress
    if resumed_from <= steps - 1 - 4:
        assert re.search(r"\d+ img/s .* ETA \d+m\d\ds$", progress[-1]), progress
    assert resumed.stdout.strip().splitlines()[-1] == f"next: python -m exhibit --model {out / 'generator.keras'}"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == steps and summary["finished"] and summary["replicas"] == 1
    assert summary["images_seen"] == steps * 8
    for name in ("generator.keras", "contact-sheet.png", "interpolation.png", f"samples/step-{steps:08d}.png",
                 "progress.png"):
        assert (out / name).exists(), name
    assert list((out / "logs").glob("events.out.tfevents.*")), "TensorBoard logs"
    assert len(list((out / "checkpoints").glob("step-*.npz"))) <= 3, "old checkpoints are pruned"

    # 4. Export an earlier checkpoint; it and the file the kill left load and draw through model/ (all a show uses).
    exported = run([sys.executable, "-m", "train", "export", str(out), "--out", str(tmp_path / "early.keras"),
                    "--step", str(steps - 4)])
    assert exported.returncode == 0, exported.stderr[-2000:]
    import model

    loaded = [model.load_generator(path) for path in (after_kill, tmp_path / "early.keras")]
    for generator in loaded:
        assert generator.generate(model.seeded_latents(0, 1, generator.z_dim)).shape == (1, 32, 32, 3)
    found = [generator.metadata["steps"] for generator in loaded]
    # The export is refreshed just after each checkpoint, so after kill -9 it may be one interval behind, never broken.
    assert found[0] >= stopped_at and found[1] == steps - 4, found


@pytest.fixture(scope="module")
def two_step_run(image_folder, small_config, tmp_path_factory):
    """A run folder at step 2 (default learning rates), reached the way a new user gets there.

    First a start that fails (a misspelt data folder, another resolution): it must leave nothing that would refuse
    the corrected command. Then temporary files as a kill -9 mid-write leaves them: the corrected start removes
    them and says so.
    """
    out = tmp_path_factory.mktemp("runs") / "run"
    failed = run(train_command(image_folder.parent / "nope", out, "--resolution", "64"))
    assert failed.returncode == 2 and "data folder not found" in failed.stderr, failed.stderr[-2000:]
    assert not (out / "run.json").exists(), "a failed start binds no settings to the folder"

    (out / "checkpoints").mkdir(parents=True)
    dead = 4194303   # above any pid this test can meet; the writer of these files is gone
    leftovers = [out / "checkpoints" / f".step-00000004.{dead}.tmp.npz", out / f".generator.{dead}.tmp.keras"]
    for path in leftovers:
        path.write_bytes(b"\0" * 1000)

    done = run(train_command(image_folder, out, "--config", str(small_config), "--steps", "2",
                             "--checkpoint-every", "2", "--sample-every", "2"))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "removed 2 temporary files left by an interrupted run" in done.stdout
    assert not any(path.exists() for path in leftovers)
    assert json.loads((out / "run.json").read_text())["model"]["resolution"] == 32
    return out


def copy_run(run_dir, tmp_path):
    return Path(shutil.copytree(run_dir, tmp_path / "run"))


def test_a_diverging_run_stops_at_once_and_keeps_the_last_good_model(two_step_run, image_folder, tmp_path):
    import model

    out = copy_run(two_step_run, tmp_path)
    absurd = tmp_path / "absurd.toml"
    absurd.write_text(SMALL + "[train]\ng_lr = 100000.0\nd_lr = 100000.0\n")
    result = run(train_command(image_folder, out, "--config", str(absurd), "--steps", "12",
                               "--strategy", "mirrored", "--cpu-replicas", "2", "--checkpoint-every", "1",
                               "--sample-every", "1"))
    assert result.returncode == 3, result.stdout[-3000:] + result.stderr[-3000:]
    error = result.stderr.strip().splitlines()[-1]
    assert re.search(r"error: training diverged at step \d+: (D loss|G loss|R1 penalty|weights) ", error), error
    assert "of 2 replicas" in error and "lower learning rate" in error and "r1_gamma" in error
    assert "resumes from step 2" in error
    assert "done" not in result.stdout
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step-00000002.npz"], "nothing saved after"
    assert sorted(p.name for p in (out / "samples").iterdir()) == ["step-00000002.png"]
    kept = model.load_generator(out / "generator.keras")      # read here: the file is what a show would load
    assert kept.metadata["steps"] == 2 and all(np.isfinite(w.numpy()).all() for w in kept.network.weights)
    with np.load(out / "checkpoints" / "step-00000002.npz") as data:
        assert all(np.isfinite(data[k]).all() for k in data.files if k != "state")


def test_a_resume_applies_new_learning_rates_and_refuses_a_new_width(two_step_run, image_folder, small_config,
                                                                      tmp_path):
    out = copy_run(two_step_run, tmp_path)
    calmer = tmp_path / "calmer.toml"
    calmer.write_text(small_config.read_text() + "[train]\ng_lr = 0.0005\nd_lr = 0.0005\n")
    result = run(train_command(image_folder, out, "--config", str(calmer), "--steps", "3"))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "train.g_lr 0.002 -> 0.0005" in result.stdout and "train.d_lr 0.002 -> 0.0005" in result.stdout
    assert "train.steps 2 -> 3" in result.stdout
    # Read back from the optimisers after the step trained: the learning rates in use, not the ones asked for.
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 3
    assert summary["learning_rates"] == pytest.approx({"g": 0.0005, "d": 0.0005})

    wider = run(train_command(image_folder, out, "--config", str(calmer), "--steps", "4", "--width", "32"))
    assert wider.returncode == 2
    assert "model.width = 16 (now 32)" in wider.stderr and "new --out folder" in wider.stderr, wider.stderr[-2000:]
    assert "step-00000004.npz" not in os.listdir(out / "checkpoints")


def test_a_generator_with_nan_weights_is_refused_everywhere(two_step_run, image_folder, tmp_path):
    import model
    from model.networks import build_generator

    broken = tmp_path / "broken.keras"
    network = build_generator(resolution=32, width=16, seed=0,
                              info={"format": model.generator_file.FORMAT, "format_version": 1})
    network.weights[0].assign(np.full(network.weights[0].shape, np.nan, np.float32))
    network.save(broken)   # as a diverged run of an older version wrote it; save_generator itself refuses
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.save_generator(network, tmp_path / "refused.keras")
    assert not (tmp_path / "refused.keras").exists()

    with pytest.raises(model.ModelFileError, match=r"broken\.keras: the weights hold NaN or infinite values"):
        model.load_generator(broken)
    evaluated = run([sys.executable, "-m", "train", "evaluate", str(broken), "--data", str(image_folder)])
    assert evaluated.returncode == 2
    last = evaluated.stderr.strip().splitlines()[-1]   # TensorFlow's start-up chatter comes first
    assert last.startswith(f"error: {broken}: the weights hold NaN or infinite values"), evaluated.stderr[-2000:]

    out = copy_run(two_step_run, tmp_path)
    path = out / "checkpoints" / "step-00000002.npz"
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["ema/0000"] = np.full_like(arrays["ema/0000"], np.nan)
    np.savez(path, **arrays)
    exported = run([sys.executable, "-m", "train", "export", str(out), "--out", str(tmp_path / "x.keras")])
    assert exported.returncode == 2 and "NaN or infinite" in exported.stderr, exported.stderr[-2000:]
    assert not (tmp_path / "x.keras").exists()


STOP_REQUEST_PROBE = """
import sys, time
from train.stop import StopRequest
stop = StopRequest()
stop.step, stop.last_saved = 7, 6
print("in a step", flush=True)
time.sleep(600)   # the main thread busy in a long step, as it is inside TensorFlow
"""


def test_ctrl_c_answers_at_once_and_a_third_quits_without_saving():
    """The trainer's StopRequest in a real process, its main thread held inside a step that does not end.

    Each Ctrl-C is sent once the previous one was answered, so the test sees the three answers a person sees,
    whatever the step's length; the save that the first one starts is tested end to end by the SIGTERM test.
    """
    process = subprocess.Popen([sys.executable, "-c", STOP_REQUEST_PROBE], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.DEVNULL, text=True,   # TensorFlow's start-up lines go to stderr
                               preexec_fn=ends_with_us)
    try:
        def next_line(within):
            ready, _, _ = select.select([process.stdout], [], [], within)
            assert ready, f"no answer within {within} s"
            return process.stdout.readline().strip()

        assert next_line(120) == "in a step"
        answers = []
        for _ in range(3):
            process.send_signal(signal.SIGINT)
            answers.append(next_line(5))   # at once, although the step never ends
        assert process.wait(timeout=10) == 130
    finally:
        process.kill()
    assert answers == ["stopping after this step, saving a checkpoint…",
                       "still finishing step 8 to save it; quitting now would lose the training since step 6. "
                       "Press Ctrl-C once more to quit without saving.",
                       "quit without saving: the next start resumes from step 6."]


def test_sample_sheets_carry_their_step_and_progress_png_shows_them_all(tmp_path):
    from PIL import Image

    from train import sheets

    rng = np.random.default_rng(0)
    for step in (500, 1000, 1500):
        tiles = rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)
        tiles[:8] = step // 500 * 60   # the first row: one grey per sheet, to find it again in the strip
        sheet = sheets.labelled(sheets.grid(tiles, columns=8), f"step {step:,}")
        sheets.save_png(sheet, tmp_path / f"step-{step:08d}.png")
    caption = np.asarray(Image.open(tmp_path / "step-00001000.png"))[:sheets.LABEL_HEIGHT]
    assert (caption > 200).any(), "the step number is drawn in light pixels on the dark bar"
    other = np.asarray(Image.open(tmp_path / "step-00001500.png"))[:sheets.LABEL_HEIGHT]
    assert not np.array_equal(caption, other), "each sheet's caption differs"

    strip = sheets.progress_strip(tmp_path.glob("step-*.png"), resolution=16)
    assert strip.shape[0] == 3 * (16 + 2) + 2
    for row, grey in enumerate((60, 120, 180)):   # oldest on top, each row the first row of its sheet
        y = 2 + row * 18 + 8
        assert (strip[y, -10] == grey).all() and (strip[y, 80] == grey).all()
    assert (strip[:, :70] > 200).any(), "steps are written left of the rows"


def test_settings_mistakes_are_one_clear_line(image_folder, tmp_path):
    typo = tmp_path / "typo.toml"
    typo.write_text("[train]\nstpes = 100\n")
    result = run(train_command(image_folder, tmp_path / "run", "--config", str(typo)))
    assert result.returncode == 2
    assert "unknown key train.stpes" in result.stderr and "steps" in result.stderr

    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nresolution = 100\n")
    result = run(train_command(image_folder, tmp_path / "run", "--config", str(bad)))
    assert result.returncode == 2 and "model.resolution" in result.stderr and "32, 64, 128, 256" in result.stderr

    result = run(train_command(image_folder, tmp_path / "run", "--strategy", "multiworker"))
    assert result.returncode == 2 and "TF_CONFIG" in result.stderr


def test_too_few_usable_images_is_one_clear_error(tmp_path):
    folder = tmp_path / "few"
    folder.mkdir()
    (folder / "broken.jpg").write_text("not an image")
    result = run(train_command(folder, tmp_path / "run"))
    assert result.returncode == 2
    assert "usable images" in result.stderr and str(folder) in result.stderr
    assert not (tmp_path / "run").exists(), "a failed start leaves nothing that would refuse a corrected command"


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.mark.slow
def test_two_workers_train_together_with_multiworker_mirrored_strategy(image_folder, small_config, tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    out = tmp_path / "run"
    workers = []
    for index in range(2):
        task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
        env = owned_environment({**os.environ, "TF_CONFIG": json.dumps(task)})   # they end if pytest is killed
        command = train_command(image_folder, out, "--config", str(small_config), "--steps", "6",
                                "--strategy", "multiworker", "--checkpoint-every", "3", "--sample-every", "3")
        workers.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True, preexec_fn=ends_with_us))
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    assert "worker 0 of 2" in outputs[0] and "worker 1 of 2" in outputs[1]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 6 and summary["replicas"] == 2
    assert (out / "generator.keras").exists()
