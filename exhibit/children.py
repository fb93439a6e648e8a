"""Child processes end with the show: each one calls `die_with_parent` first thing.

The show owns its children (the generator process, the OSC receiver) and closes them on every orderly way out.
This is for the other ways: `kill -9`, a crash, the OOM killer. Two guards, because each has a gap:
  - Linux: prctl(PR_SET_PDEATHSIG, SIGKILL). The kernel kills the child the moment its parent dies, even when the
    child is stopped or stuck inside TensorFlow. But "parent" means the parent *thread* (prctl(2)): a child started
    from a thread that ends earlier would be killed with it, so this is only asked for when the child was started
    from the show's main thread, which lives as long as the show.
  - Everywhere: a daemon thread that checks every POLL_SECONDS whether the parent is still the one that started us
    (an orphan is re-parented, so os.getppid() changes), and ends the process if not.
"""
import ctypes
import ctypes.util
import os
import signal
import sys
import threading

POLL_SECONDS = 0.5
PR_SET_PDEATHSIG = 1          # <linux/prctl.h>


def started_from_main_thread():
    """Whether a child started now may tie its life to the calling thread (see the module docstring)."""
    return threading.current_thread() is threading.main_thread()


def die_with_parent(parent_pid, tie_to_thread=False):
    """Call in the child, first thing. parent_pid: os.getpid() of the show, taken when it started the child.

    tie_to_thread: the child was started from the show's main thread (started_from_main_thread()); on Linux the
    kernel then kills this process the instant the show dies.
    """
    if tie_to_thread and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass                          # the polling thread below still covers it
    if os.getppid() != parent_pid:        # the show died before we got here
        os._exit(1)

    def watch():
        while True:
            threading.Event().wait(POLL_SECONDS)
            if os.getppid() != parent_pid:
                os._exit(1)               # no cleanup owed to anyone: the show that wanted our work is gone

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
