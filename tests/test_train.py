"""The trainer end to end: real runs of `python -m train` on a real (odd) image folder, at tiny sizes."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.images import make_image_folder

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


@pytest.fixture(scope="module")
def small_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("config") / "small.toml"
    path.write_text("[data]\nmin_images = 4\n[output]\nlog_every_seconds = 0\n")
    return path


def wait_for(predicate, process, timeout=240):
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
    result = run([sys.executable, str(ROOT / "tests" / "replica_probe.py")])
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["finite"], report["losses"]
    assert report["moved"] > 0, "the generator's weights changed"
    for group, difference in report["differences"].items():
        assert difference == 0.0, f"{group} differs between replicas by {difference}"


def test_a_run_is_stopped_by_sigterm_killed_and_resumed_to_the_end(image_folder, small_config, tmp_path):
    out = tmp_path / "run"
    command = train_command(image_folder, out, "--config", str(small_config), "--steps", "24",
                            "--cpu-replicas", "2", "--strategy", "mirrored",
                            "--checkpoint-every", "4", "--sample-every", "4")

    # 1. SIGTERM (a shutdown, or Ctrl-C) after the first checkpoint: the run saves where it is and says so.
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wait_for(lambda: (out / "checkpoints" / "step-00000004.npz").exists(), process)
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=120)
    assert process.returncode == 130, output[-3000:]
    assert "checkpoint saved. Run the same command to resume." in output
    assert "skipped" in output and "empty.png" in output, "broken files are listed at the start"
    stopped_at = json.loads((out / "summary.json").read_text())["step"]
    assert 4 <= stopped_at < 24

    # 2. kill -9 in the middle of the resumed run: at most one interval is lost, nothing left broken.
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    next_checkpoint = (stopped_at // 4 + 1) * 4
    wait_for(lambda: (out / "checkpoints" / f"step-{next_checkpoint:08d}.npz").exists(), process)
    process.kill()
    process.communicate(timeout=60)
    code = ("import sys, model; g = model.load_generator(sys.argv[1]); "
            "print(g.metadata['steps'], g.generate(model.seeded_latents(0, 1, g.z_dim)).shape)")
    loaded = run([sys.executable, "-c", code, str(out / "generator.keras")])
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    # The export is refreshed just after each checkpoint, so it may be one interval behind, never broken.
    assert int(loaded.stdout.split()[0]) >= stopped_at

    # 3. The same command again resumes from the latest checkpoint and finishes.
    resumed = run(command)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    resumed_from = int(re.search(r"resuming from step-\d+\.npz at step (\d+)", resumed.stdout).group(1))
    assert resumed_from >= next_checkpoint
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 24 and summary["finished"] and summary["replicas"] == 2
    assert summary["images_seen"] == 24 * 8
    for name in ("generator.keras", "contact-sheet.png", "interpolation.png", "samples/step-00000024.png"):
        assert (out / name).exists(), name
    assert list((out / "logs").glob("events.out.tfevents.*")), "TensorBoard logs"
    assert len(list((out / "checkpoints").glob("step-*.npz"))) <= 3, "old checkpoints are pruned"

    # 4. Export an earlier checkpoint; it loads in a fresh process through model/ alone.
    exported = run([sys.executable, "-m", "train", "export", str(out), "--out", str(tmp_path / "early.keras"),
                    "--step", "20"])
    assert exported.returncode == 0, exported.stderr[-2000:]
    loaded = run([sys.executable, "-c", code, str(tmp_path / "early.keras")])
    assert loaded.returncode == 0 and loaded.stdout.split()[0] == "20", loaded.stderr[-2000:]


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
    assert not (tmp_path / "run" / "checkpoints").exists()


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
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        command = train_command(image_folder, out, "--config", str(small_config), "--steps", "6",
                                "--strategy", "multiworker", "--checkpoint-every", "3", "--sample-every", "3")
        workers.append(subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    assert "worker 0 of 2" in outputs[0] and "worker 1 of 2" in outputs[1]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["step"] == 6 and summary["replicas"] == 2
    assert (out / "generator.keras").exists()
