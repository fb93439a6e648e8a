"""Processes of the trainer end with their owner, even when the owner is killed with kill -9.

Two kinds: the image-decoding pool of `train.sample_data` (owned by the trainer process that made it), and trainers
started by another program that owns them, such as a launcher starting the workers of a MultiWorkerMirroredStrategy
cluster. Such an owner puts its process id in OWNER_ENV (`owned_environment()`); `python -m train` then ties its
life to it. Without it a trainer lives on its own: `nohup python -m train ... &` must survive the shell that
started it.

Two guards, because each has a gap (the show has the same pair in exhibit/children.py; train/ and exhibit/ share
no code but model/, which is about generator files):
  - Linux: prctl(PR_SET_PDEATHSIG, SIGKILL). The kernel kills the process the moment its parent dies, even when it
    is stuck inside TensorFlow. "Parent" means the parent *thread* (prctl(2)), so this is asked for only when the
    owner started us from its main thread.
  - Everywhere: a daemon thread that checks every POLL_SECONDS whether the parent is still the owner (an orphan is
    re-parented, so os.getppid() changes) and ends the process if not.
"""
import ctypes
import ctypes.util
import os
import signal
import sys
import threading

OWNER_ENV = "PERMEATION_OWNER_PID"    # "<pid>" or "<pid>:thread" (started from the owner's main thread)
POLL_SECONDS = 0.5
PR_SET_PDEATHSIG = 1                  # <linux/prctl.h>


def owned_environment(env=None):
    """A copy of `env` (default os.environ) that makes a `python -m train` started with it end with this process."""
    tie = ":thread" if threading.current_thread() is threading.main_thread() else ""
    return {**(os.environ if env is None else env), OWNER_ENV: f"{os.getpid()}{tie}"}


def from_environment():
    """Call first thing in `python -m train`: if an owner named itself in OWNER_ENV, end with it."""
    value = os.environ.pop(OWNER_ENV, "")      # popped: our own children have us as their owner, not our owner
    if not value:
        return
    pid, _, tie = value.partition(":")
    try:
        die_with_parent(int(pid), tie_to_thread=tie == "thread")
    except ValueError:
        print(f"warning: {OWNER_ENV}={value!r} is not a process id; this trainer does not end with its owner",
              file=sys.stderr)


def die_with_parent(parent_pid, tie_to_thread=False):
    """End this process (exit status 1, no cleanup) as soon as its owner dies.

    parent_pid: os.getpid() of the owner, taken when it started us: our parent, or (through a shell) an ancestor.
    tie_to_thread: the owner started us from its main thread, so on Linux the kernel may kill us the instant our
    parent dies (see the module docstring).
    """
    if tie_to_thread and sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass                          # the polling thread below still covers it
    if os.getppid() == parent_pid:
        def alive():
            return os.getppid() == parent_pid
    else:                                 # started through a shell or another program: watch the owner itself
        def alive():
            try:
                os.kill(parent_pid, 0)    # signal 0: only asks whether the process exists
            except ProcessLookupError:
                return False
            except PermissionError:       # exists, run by another user (an owner that started us as someone else)
                pass
            return True
    if not alive():                       # the owner died before we got here
        os._exit(1)

    def watch():
        while True:
            threading.Event().wait(POLL_SECONDS)
            if not alive():
                os._exit(1)               # nobody is left to use what we would finish

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def pool_guard(*initializer):
    """(initializer, initargs) for a ProcessPoolExecutor made in this process: each worker ends with us, then
    runs `initializer` (a function and its arguments), if given."""
    tie = threading.current_thread() is threading.main_thread()
    return _guarded, (os.getpid(), tie, initializer)


def _guarded(parent_pid, tie_to_thread, initializer):
    die_with_parent(parent_pid, tie_to_thread)
    if initializer:
        initializer[0](*initializer[1:])
