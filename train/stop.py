"""Ctrl-C and SIGTERM during training: answered at once, acted on between steps (used by train/loop.py).

Kept apart from the loop, which needs TensorFlow, so what a person sees on each Ctrl-C can be checked in a process
that starts in a second.
"""
import os
import signal
import socket
import sys
import threading


class StopRequest:
    """Ctrl-C and SIGTERM ask the loop to stop after the current step, so it can checkpoint first.

    Python runs a signal handler only when the main thread is back between bytecodes, and the main thread sits inside
    a TensorFlow step for seconds at a time; so the C-level handler writes the signal number to a socket
    (signal.set_wakeup_fd) and a thread answers at once. First signal: stop after this step and save a checkpoint.
    Second: say that quitting now loses the steps since the last checkpoint, and how. Third: quit at once, exit
    status 130, without saving (the next start removes any half-written temporary file).
    """

    def __init__(self, log=print):
        self.signal = None
        self.step = self.last_saved = None   # kept up to date by the loop, for the messages
        self._log = log
        self._count = 0
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, frame: None)   # the thread answers; nothing to do here
        threading.Thread(target=self._listen, name="stop-request", daemon=True).start()

    def _listen(self):
        while True:
            try:
                received = self._reader.recv(16)
            except OSError:
                return
            if not received:
                return
            for signum in received:
                self._answer(signum)

    def _answer(self, signum):
        self._count += 1
        since = f"step {self.last_saved}" if self.last_saved else "the start"
        if self._count == 1:
            self.signal = signum
            self._log("stopping after this step, saving a checkpoint…")
        elif self._count == 2:
            self._log(f"still finishing step {(self.step or 0) + 1} to save it; quitting now would lose the training "
                      f"since {since}. Press Ctrl-C once more to quit without saving.")
        else:
            self._log(f"quit without saving: the next start resumes from {since}.")
            sys.stdout.flush()
            os._exit(130)
        sys.stdout.flush()
