"""Atomic file writes: whoever reads the file, at any moment, sees the old version or the new one, never half.

Every file that must never be found half-written (generator files, checkpoints, run.json, summary.json, the exhibit's
scenes) is written through `replacing`: the content goes to a temporary file in the same folder (so the rename
stays on one file system), is flushed to disk (fsync), renamed over the target with `os.replace` (atomic on POSIX
and Windows), and the folder is flushed too, so the rename itself survives a power cut.

The temporary file is `.{stem}.{pid}.tmp{suffix}` next to the target: `step-00001000.npz` is written as
`.step-00001000.4711.tmp.npz`, `generator.keras` as `.generator.4711.tmp.keras`. It keeps the target's suffix
because some writers insist on it (Keras saves only to names ending in .keras). An error inside the block removes
it; only a process killed mid-write (kill -9, power cut) can leave one behind. Such leftovers match
`TEMPORARY_GLOB` and name the process that wrote them, so a cleanup can tell a dead writer's from a live one's.
"""
import contextlib
import os
import re
from pathlib import Path

TEMPORARY_GLOB = ".*.tmp*"
TEMPORARY = re.compile(r"^\.(?P<stem>.+)\.(?P<pid>\d+)\.tmp(?P<suffix>\.[^.]*)?$")


def temporary_path(path):
    """Where `replacing(path)` writes before the rename: `.{stem}.{pid}.tmp{suffix}` in the same folder."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")


@contextlib.contextmanager
def replacing(path):
    """Yield a temporary Path to write completely; when the block ends without error it becomes `path`.

    An exception in the block (or while flushing) removes the temporary file, leaves `path` as it was, and
    propagates. The folder must exist. Raises OSError from the file system.
    """
    path = Path(path)
    temporary = temporary_path(path)
    try:
        yield temporary
        with open(temporary, "rb") as written:
            os.fsync(written.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)     # gone after a rename; removed after a failure
    _sync_folder(path.parent)


def write_bytes(path, data):
    """Replace the file at `path` with `data` (bytes), atomically."""
    with replacing(path) as temporary:
        temporary.write_bytes(data)


def write_text(path, text):
    """Replace the file at `path` with `text` (str, written as UTF-8), atomically."""
    write_bytes(path, text.encode("utf-8"))


def _sync_folder(folder):
    """Flush a folder's entries (the rename) to disk. Folders cannot be opened on Windows; there it is a no-op."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
