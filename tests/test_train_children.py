"""The trainer's processes end with their owner: kill -9 the owner, and within seconds none of them remains."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.images import make_image_folder
from tests.owned import ends_with_us
from tests.test_train import SMALL, free_ports, train_command

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
GONE_SECONDS = 5.0

# An owner of a decoding pool like train.sample_data's, its workers busy on tasks that would never end; started
# from the main thread (the kernel's death signal) or from another thread (only the parent-watch thread then).
POOL_OWNER = """
import multiprocessing, sys, threading, time
from concurrent.futures import ProcessPoolExecutor
from train.children import pool_guard

def start():
    initializer, initargs = pool_guard()
    pool = ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn"), initializer=initializer,
                               initargs=initargs)
    for _ in range(2):
        pool.submit(time.sleep, 3600)
    print(" ".join(str(p.pid) for p in pool._processes.values()), flush=True)

if sys.argv[1] == "thread":
    threading.Thread(target=start).start()
else:
    start()
time.sleep(3600)
"""

# A launcher owning the workers of a MultiWorkerMirroredStrategy cluster on this machine. Their output goes to
# files, not to pipes of the owner: a worker must end because of the guard, not because a write found no reader.
CLUSTER_OWNER = """
import json, os, subprocess, sys, time
from train.children import owned_environment
cluster, commands, logs = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3])
for index, (command, log) in enumerate(zip(commands, logs)):
    task = {"cluster": cluster, "task": {"type": "worker", "index": index}}
    env = owned_environment({**os.environ, "TF_CONFIG": json.dumps(task)})
    worker = subprocess.Popen(command, env=env, stdout=open(log, "w"), stderr=subprocess.STDOUT)
    print(worker.pid, flush=True)
time.sleep(3600)
"""


def assert_gone(pids, seconds=GONE_SECONDS):
    """None of `pids` is running (a zombie waiting for a reaper that is not ours counts as ended) within seconds."""
    deadline = time.monotonic() + seconds
    alive = pids
    while time.monotonic() < deadline:
        alive = [pid for pid in pids if _running(pid)]
        if not alive:
            return
        time.sleep(0.1)
    raise AssertionError(f"still running {seconds:g} s after their owner was killed: {alive}")


def _running(pid):
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("started_from", ["main", "thread"])
def test_decoding_pool_workers_end_when_their_owner_is_killed(started_from):
    owner = subprocess.Popen([sys.executable, "-c", POOL_OWNER, started_from], cwd=ROOT, env=ENV,
                             stdout=subprocess.PIPE, text=True, preexec_fn=ends_with_us)
    pids = []
    try:
        pids = [int(pid) for pid in owner.stdout.readline().split()]
        assert len(pids) == 2 and all(_running(pid) for pid in pids)
        owner.kill()                               # SIGKILL: no cleanup of its own runs
        owner.wait()
        assert_gone(pids)
    finally:
        owner.kill()
        _kill(pids)


@pytest.mark.slow
def test_multiworker_trainers_end_when_their_owner_is_killed(tmp_path):
    data = tmp_path / "art"
    data.mkdir()
    make_image_folder(data)
    config = tmp_path / "small.toml"
    config.write_text(SMALL)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    commands = [train_command(data, tmp_path / "run", "--config", str(config), "--steps", "100000",
                              "--strategy", "multiworker") for _ in range(2)]
    logs = [tmp_path / f"worker{index}.log" for index in range(2)]
    owner = subprocess.Popen([sys.executable, "-c", CLUSTER_OWNER, json.dumps(cluster), json.dumps(commands),
                              json.dumps([str(log) for log in logs])], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                             text=True, preexec_fn=ends_with_us)
    pids = []
    try:
        pids = [int(owner.stdout.readline()) for _ in range(2)]
        deadline = time.monotonic() + 600
        while not all(f"worker {i} of 2" in log.read_text() for i, log in enumerate(logs)):   # the cluster formed
            assert time.monotonic() < deadline and all(_running(pid) for pid in pids), \
                "\n".join(log.read_text()[-2000:] for log in logs)
            time.sleep(0.5)
        owner.kill()
        owner.wait()
        assert_gone(pids)
    finally:
        owner.kill()
        _kill(pids)
