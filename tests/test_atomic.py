"""Atomic writes: the file is the old one or the new one, whatever happens mid-write; leftovers are recognisable."""
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from model import atomic

ROOT = Path(__file__).resolve().parent.parent


def test_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "scenes.json"
    target.write_text("old")
    atomic.write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["scenes.json"]


def test_an_error_mid_write_keeps_the_old_file_and_removes_the_temporary(tmp_path):
    target = tmp_path / "step-00000010.npz"
    target.write_bytes(b"complete")
    with pytest.raises(RuntimeError):
        with atomic.replacing(target) as temporary:
            temporary.write_bytes(b"half")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == [target.name]


def test_a_killed_writer_leaves_the_old_file_and_a_leftover_that_names_it(tmp_path):
    target = tmp_path / "generator.keras"
    target.write_bytes(b"complete")
    script = ("import os, signal, sys\nfrom model import atomic\n"
              "with atomic.replacing(sys.argv[1]) as temporary:\n"
              "    temporary.write_bytes(b'half')\n"
              "    os.kill(os.getpid(), signal.SIGKILL)\n")
    child = subprocess.run([sys.executable, "-c", script, str(target)], cwd=ROOT, timeout=60)
    assert child.returncode == -signal.SIGKILL
    assert target.read_bytes() == b"complete"
    leftovers = list(tmp_path.glob(atomic.TEMPORARY_GLOB))
    assert len(leftovers) == 1 and leftovers[0].name.endswith(".tmp.keras")
    match = atomic.TEMPORARY.match(leftovers[0].name)
    assert match and match["stem"] == "generator" and match["suffix"] == ".keras"
    assert int(match["pid"]) != os.getpid()
