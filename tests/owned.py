"""Every process a test starts ends with the test run, however pytest ends (`kill -9` too).

A program that is not ours (Xvfb, a window manager, oscdump), or one of our commands started as a user starts it
(`python -m exhibit`, `python -m train`), has no idea the test run owns it, and one that runs until told (a show,
Xvfb) would outlive a killed pytest for good. On Linux the kernel can end it: PR_SET_PDEATHSIG, asked for between
fork and exec (`Popen(..., preexec_fn=ends_with_us)`), sends SIGKILL when the thread that started it ends. That
thread is the test's main thread here, which lives as long as the run. Elsewhere this does nothing.
"""
import ctypes
import ctypes.util
import signal
import sys

from exhibit.children import PR_SET_PDEATHSIG

# Loaded before any fork: the child between fork and exec only calls it (no dlopen there, which could deadlock).
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True) \
    if sys.platform.startswith("linux") else None


def ends_with_us():
    """A Popen preexec_fn: this child is killed the moment the test run's thread that started it ends."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
