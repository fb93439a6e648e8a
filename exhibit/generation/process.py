"""The live show's generator runs in a process of its own; the show's process never loads TensorFlow.

Why: TensorFlow makes the symbols of the LLVM it bundles global when it loads. A graphics driver built on LLVM
(Mesa's llvmpipe and radeonsi, common on Linux gallery PCs) that SDL loads into the same process then resolves its
own LLVM calls into TensorFlow's copy and crashes the show as the window opens. Keeping TensorFlow in a child
process removes the clash, and also gives generation its own scheduling priority, away from the render loop.

`RemoteGenerator` meets the same contract as model.LoadedGenerator (model.ImageGenerator), so the worker does not
know the difference. Tiles are small (196 tiles of 64 px are 2.4 MB), so sending them through a
pipe costs little beside drawing them.
"""
import multiprocessing
import os
import signal
import threading

import model

START_SECONDS = 300     # loading TensorFlow and a model on a slow machine


def _serve(connection, path, resolution, threads):
    """The child: load the model, describe it, then draw whatever latents arrive until told to stop."""
    # Ctrl-C and SIGTERM reach the whole process group; they are the show's to handle, and it then closes us
    # (if the show dies instead, the pipe closes and we end).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if hasattr(os, "nice"):
        os.nice(5)      # the render loop in the parent comes first; generation takes what is left
    if threads:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    try:
        generator = model.load_generator(path) if path else model.new_generator(resolution)
    except model.ModelFileError as error:
        connection.send(("error", str(error)))
        return
    connection.send(("ready", {"z_dim": generator.z_dim, "resolution": generator.resolution,
                               "name": generator.name, "metadata": generator.metadata}))
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


class RemoteGenerator:
    """A generator file loaded and drawn in a child process; meets model.ImageGenerator.

    path None: an untrained generator of `resolution`. threads: TensorFlow's CPU threads (0: its choice). Raises
    model.ModelFileError like model.load_generator when the file cannot be used or the process does not start.
    """

    def __init__(self, path=None, resolution=model.DEFAULT_RESOLUTION, threads=0):
        self.path, self._resolution, self._threads = path, resolution, threads
        self.restarts = 0                   # times the process died and was started again (for the heartbeat)
        self._lock = threading.RLock()
        self._start()

    def _start(self):
        context = multiprocessing.get_context("spawn")    # a clean process: nothing of pygame or SDL inherited
        self._connection, child = context.Pipe()
        source = str(self.path) if self.path else None
        self._process = context.Process(target=_serve, args=(child, source, self._resolution, self._threads),
                                        name="generator", daemon=True)
        self._process.start()
        child.close()
        if not self._connection.poll(START_SECONDS):
            self.close()
            raise model.ModelFileError(f"{self.path or 'untrained generator'}: the generator process did not start")
        kind, payload = self._receive()
        if kind == "error":
            self.close()
            raise model.ModelFileError(payload)
        self.z_dim, self.resolution = payload["z_dim"], payload["resolution"]
        self.name, self.metadata = payload["name"], payload["metadata"]

    def _receive(self):
        try:
            return self._connection.recv()
        except (EOFError, OSError):
            raise RuntimeError(f"the generator process ended (exit code {self._process.exitcode})") from None

    def generate(self, z, psi=1.0, noise=None):
        """z: float32 [N, z_dim] -> uint8 [N, R, R, 3], drawn in the child. RuntimeError if drawing failed there."""
        with self._lock:
            if not self._process.is_alive():      # killed or crashed: weeks-long shows restart it, and go on
                self.restarts += 1
                self._start()
            self._connection.send((z, float(psi), noise))
            kind, payload = self._receive()
        if kind == "error":
            raise RuntimeError(payload)
        return payload

    def close(self):
        """Stop the child; waits for a drawing in progress to finish first. Safe to call more than once."""
        with self._lock:
            try:
                self._connection.send(None)
            except (OSError, ValueError):
                pass
            self._connection.close()
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.kill()
