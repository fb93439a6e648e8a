"""The live show's generator runs in a process of its own; the show's process never loads TensorFlow.

Why: TensorFlow makes the symbols of the LLVM it bundles global when it loads. A graphics driver built on LLVM
(Mesa's llvmpipe and radeonsi, common on Linux gallery PCs) that SDL loads into the same process then resolves its
own LLVM calls into TensorFlow's copy and crashes the show as the window opens. Keeping TensorFlow in a child
process removes the clash, and also gives generation its own scheduling priority, away from the render loop.

`RemoteGenerator` meets the same contract as model.LoadedGenerator (model.ImageGenerator), so the worker does not
know the difference. Tiles are small (196 tiles of 64 px are 2.4 MB), so sending them through a
pipe costs little beside drawing them.
"""
import logging
import multiprocessing
import os
import signal
import threading
import time

import model
from exhibit.children import die_with_parent, started_from_main_thread

log = logging.getLogger("exhibit")

START_SECONDS = 300     # loading TensorFlow and a model on a slow machine
ANSWER_SECONDS = 60     # one batch; a child silent for longer is stopped (SIGSTOP) or hung, and is replaced
CLOSE_SECONDS = 3       # a drawing in progress may finish before the child is killed
RESTART_DELAYS = (1.0, 60.0)   # first and longest wait before restarting a child that keeps ending
# While the child loads (TensorFlow, the model, the first trace) it runs at a mild nice value, so a model swap
# takes seconds on a machine with other work; once it draws it yields the CPU to the show (see _yield_cpu).
LOADING_NICENESS = 5
DRAWING_NICENESS = 19


# Lines TensorFlow, absl and CUDA's stubs print on every start of a machine without a GPU, at levels that read as
# faults to a technician ("E0000 ... failed call to cuInit: UNKNOWN ERROR"). TF_CPP_MIN_LOG_LEVEL does not reach
# the ones printed before absl's logging starts, so they are filtered from the child's stderr; anything else passes.
NOISE = (b"All log messages before absl::InitializeLog", b"cudart_stub.cc", b"failed call to cuInit",
         b"cuda_platform.cc", b"cuda_executor.cc", b"Could not find cuda drivers", b"oneDNN custom operations",
         b"TF_ENABLE_ONEDNN_OPTS", b"This TensorFlow binary is optimized", b"rebuild TensorFlow with the appropriate",
         b"Unable to register cu", b"computation_placer.cc", b"cpu_feature_guard.cc", b"port.cc:153")


def _quiet_stderr():
    """Send this process's stderr (fd 2, so C++ logging too) through a filter that drops NOISE lines.
    Returns a function that restores stderr and lets the filter write what it still holds."""
    original = os.dup(2)
    read, write = os.pipe()
    os.dup2(write, 2)
    os.close(write)

    def pump():
        with os.fdopen(read, "rb") as lines, os.fdopen(os.dup(original), "wb", buffering=0) as out:
            for line in lines:
                if not any(noise in line for noise in NOISE):
                    out.write(line)

    thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
    thread.start()

    def restore():
        os.dup2(original, 2)          # closes the pipe's last writer: the filter reads to the end and stops
        thread.join(timeout=1.0)
    return restore


def _serve(connection, path, resolution, threads, parent_pid, tie_to_thread):
    """The child: load the model, describe it, then draw whatever latents arrive until told to stop."""
    die_with_parent(parent_pid, tie_to_thread)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")      # before TensorFlow loads: no INFO and WARNING lines
    restore = _quiet_stderr()
    try:
        _draw(connection, path, resolution, threads)
    finally:
        restore()


def _yield_cpu():
    """From now on draw only with CPU time the show's other processes leave: the render loop and the OSC
    receiver come first.

    Every thread goes to nice 19, TensorFlow's compute threads too: on Linux a nice value belongs to one thread
    (setpriority(2)), and os.nice() would lower only this one while the threads that do the drawing stayed
    at LOADING_NICENESS. With all of them at 19, `bench --osc` held p99 2 frames in its quiet half in 6 runs of 7
    (3 in the other), against 3 in every run with them at 5: the render loop shared its core with TensorFlow.
    """
    tasks = "/proc/self/task"
    if os.path.isdir(tasks) and hasattr(os, "setpriority"):
        for tid in os.listdir(tasks):
            try:
                os.setpriority(os.PRIO_PROCESS, int(tid), DRAWING_NICENESS)
            except OSError:             # a thread that has just ended
                pass
    elif hasattr(os, "nice"):           # elsewhere (macOS) the nice value is the whole process's
        os.nice(DRAWING_NICENESS - LOADING_NICENESS)


def _draw(connection, path, resolution, threads):
    # Ctrl-C and SIGTERM reach the whole process group; they are the show's to handle, and it then closes us
    # (if the show dies instead, die_with_parent ends us).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(os, "nice"):
        os.nice(LOADING_NICENESS)
    if threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    try:
        generator = model.load_generator(path) if path else model.new_generator(resolution)
    except model.ModelFileError as error:
        connection.send(("error", str(error)))
        return
    # Trace the drawing graph now, so "ready" means ready: the first batch is not slower than the others.
    generator.generate(model.seeded_latents(0, 1, generator.z_dim))
    connection.send(("ready", {"z_dim": generator.z_dim, "resolution": generator.resolution,
                               "name": generator.name, "metadata": generator.metadata}))
    _yield_cpu()
    while True:
        try:
            request = connection.recv()
        except (EOFError, OSError):
            return          # the show has gone
        if request is None:
            return
        z, psi, noise = request
        try:
            reply = ("images", generator.generate(z, psi=psi, noise=noise))
        except Exception as error:    # reported to the worker, which keeps the show on its last frames
            reply = ("error", f"{type(error).__name__}: {error}")
        try:
            connection.send(reply)
        except OSError:
            return          # the show has gone while we were drawing


class GeneratorProcessError(RuntimeError):
    """The generator process could not draw (it ended, hung, or was closed); the message says which."""


def ended(exitcode):
    """'exit code 1' or 'signal 9' from a multiprocessing exit code (negative: the signal that ended it)."""
    return f"signal {-exitcode}" if exitcode is not None and exitcode < 0 else f"exit code {exitcode}"


class RemoteGenerator:
    """A generator file loaded and drawn in a child process; meets model.ImageGenerator. Raises
    model.ModelFileError like model.load_generator when the file cannot be used or the process does not start.

    wait=False returns at once, with the model still loading: poll `ready()` (what the live show does, so its loop
    never waits). A child that dies or stops answering while drawing is killed, reaped and replaced, never
    duplicated; `restarts` counts it. `close()` ends the child on any thread, within CLOSE_SECONDS.
    """

    def __init__(self, path=None, resolution=model.DEFAULT_RESOLUTION, threads=0, wait=True):
        self.path, self._resolution, self._threads = path, resolution, threads
        self._lock = threading.RLock()              # one request at a time through the pipe
        self._process_lock = threading.Lock()       # guards which child is ours, so close() never misses one
        self._closed = threading.Event()
        self._process = self._connection = None
        self._described = False
        self._why = None                            # why the child is being replaced, when not its exit code
        self._reaped, self._exitcode = None, None    # the child last ended and reaped, and how it ended
        self.restarts = 0
        self._last_restart = -float("inf")
        self._delay = RESTART_DELAYS[0]
        self._start()
        if wait:
            while not self.ready():
                self._connection.poll(0.25)

    def _start(self):
        context = multiprocessing.get_context("spawn")    # a clean process: nothing of pygame or SDL inherited
        with self._process_lock:
            if self._closed.is_set():
                raise GeneratorProcessError("the generator was closed")
            self._connection, child = context.Pipe()
            source = str(self.path) if self.path else None
            self._process = context.Process(
                target=_serve, name="generator", daemon=True,
                args=(child, source, self._resolution, self._threads, os.getpid(), started_from_main_thread()))
            self._process.start()
            child.close()
        self._started = time.monotonic()
        self._described = False

    def ready(self):
        """True once the model is loaded and described; False while loading. Raises model.ModelFileError."""
        if self._described:
            return True
        try:
            if not self._connection.poll(0):
                if not self._process.is_alive():
                    self._process.join()
                    raise model.ModelFileError(f"{self.path or 'untrained generator'}: the generator process "
                                               f"ended while loading ({ended(self._process.exitcode)})")
                if time.monotonic() - self._started > START_SECONDS:
                    raise model.ModelFileError(f"{self.path or 'untrained generator'}: the generator process "
                                               f"did not load it within {START_SECONDS} s")
                return False
            kind, payload = self._connection.recv()
        except (EOFError, OSError):
            self._end()
            raise model.ModelFileError(f"{self.path or 'untrained generator'}: the generator process ended while "
                                       f"loading ({ended(self._exitcode)})") from None
        except model.ModelFileError:
            self.close()
            raise
        if kind == "error":
            self.close()
            raise model.ModelFileError(payload)
        self.z_dim, self.resolution = payload["z_dim"], payload["resolution"]
        self.name, self.metadata = payload["name"], payload["metadata"]
        self._described = True
        return True

    @property
    def pid(self):
        """The generator process's id, or None while there is none (not started, or ended and reaped)."""
        process = self._process
        try:
            return None if process is None or process is self._reaped else process.pid
        except ValueError:                  # closed between the two looks
            return None

    def generate(self, z, psi=1.0, noise=None):
        """z: float32 [N, z_dim] -> uint8 [N, R, R, 3], drawn in the child. Raises GeneratorProcessError."""
        with self._lock:
            for attempt in range(2):
                if attempt or self._reaped is self._process or not self._process.is_alive():
                    self._restart()
                try:
                    self._connection.send((z, float(psi), noise))
                    if self._connection.poll(ANSWER_SECONDS):
                        kind, payload = self._connection.recv()
                        break
                    self._why = f"did not answer for {ANSWER_SECONDS} s (stopped or hung) and was killed"
                except (EOFError, OSError):
                    self._why = None
                if self._closed.is_set():
                    raise GeneratorProcessError("the generator was closed")
                self._end()
            else:
                raise GeneratorProcessError("the generator process ended twice in a row")
        if kind == "error":
            raise GeneratorProcessError(payload)
        return payload

    def _end(self):
        """Kill the child now (SIGKILL works on a stopped one too) and reap it: never two children at once."""
        process = self._process
        if self._reaped is process:
            return
        if process.is_alive():
            process.kill()
        process.join()
        self._reaped, self._exitcode = process, process.exitcode
        process.close()                    # its sentinel fd too: a show swaps models for weeks
        self._connection.close()

    def _restart(self):
        """Replace a child that ended or hung, after a delay that grows while it keeps ending. One log line."""
        self._end()
        why = self._why or f"ended ({ended(self._exitcode)})"
        self._why = None
        noticed = time.monotonic()
        self._delay = RESTART_DELAYS[0] if noticed - self._last_restart > RESTART_DELAYS[1] else \
            min(2 * self._delay, RESTART_DELAYS[1])
        self._last_restart = noticed
        if self._closed.wait(self._delay):
            raise GeneratorProcessError("the generator was closed")
        try:
            self._start()
            while not self.ready():
                if self._closed.wait(0.25):
                    raise GeneratorProcessError("the generator was closed")
        except model.ModelFileError as error:
            log.error("the generator process %s; could not restart it: %s", why, error)
            raise GeneratorProcessError(str(error)) from None
        self.restarts += 1
        log.error("the generator process %s; restarted in %.1f s", why, time.monotonic() - noticed)

    def close(self):
        """End the child and reap it; a drawing in progress gets CLOSE_SECONDS to finish. Safe to call twice."""
        with self._process_lock:
            self._closed.set()
            process, connection = self._process, self._connection
        if process is None or self._reaped is process:    # never started, or already ended and reaped
            if connection is not None:
                connection.close()
            return
        if not self._described:                           # still loading: nothing to finish, end it now
            process.kill()
        elif self._lock.acquire(timeout=CLOSE_SECONDS):     # else a drawing is stuck: no point asking politely
            try:
                connection.send(None)
                process.join(timeout=CLOSE_SECONDS)
            except (OSError, ValueError):
                pass
            finally:
                self._lock.release()
        if process.is_alive():
            process.kill()
            process.join()
        self._reaped, self._exitcode = process, process.exitcode
        process.close()
        connection.close()
