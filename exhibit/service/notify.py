"""systemd's notify protocol: the show tells its service manager it is up, alive, and what it is doing.

Protocol (sd_notify(3), https://www.freedesktop.org/software/systemd/man/latest/sd_notify.html): newline-separated
VARIABLE=value fields in one datagram to the Unix datagram socket named by $NOTIFY_SOCKET; a name starting with '@'
is in Linux's abstract namespace (sent with a leading NUL byte). With Type=notify and WatchdogSec=, systemd waits for
READY=1 before it counts the show as started, and restarts it when WATCHDOG=1 stops arriving for WatchdogSec
($WATCHDOG_USEC, in microseconds). The live loop pings from the render loop itself, so a frozen loop falls silent.

Without $NOTIFY_SOCKET (a terminal, launchd, Windows) every call does nothing.
"""
import logging
import os
import socket

log = logging.getLogger("exhibit")

PING_SECONDS = 1.0          # at most this often, and at least twice per watchdog period
STATUS_SECONDS = 5.0        # STATUS= lines are for `systemctl status`: a few seconds old is fresh enough


class Notifier:
    """Sends notify datagrams when the show runs under systemd (environ has NOTIFY_SOCKET); else does nothing."""

    def __init__(self, environ=None):
        environ = os.environ if environ is None else environ
        self.name = environ.get("NOTIFY_SOCKET") or None
        self.sock = None
        self.interval = PING_SECONDS
        self._pinged = self._statused = -float("inf")
        if not self.name or not hasattr(socket, "AF_UNIX"):
            return
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.interval = min(PING_SECONDS, int(usec) / 1e6 / 2)
        self.address = "\0" + self.name[1:] if self.name.startswith("@") else self.name
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setblocking(False)           # the render loop never waits on the service manager

    def send(self, *fields):
        """One datagram of 'NAME=value' fields. Returns False if nothing was sent; a dead socket is said once."""
        if self.sock is None:
            return False
        try:
            self.sock.sendto("\n".join(fields).encode(), self.address)
            return True
        except BlockingIOError:
            return False                         # the manager is busy: the next ping will do
        except OSError as error:
            log.error("NOTIFY_SOCKET=%s: cannot reach the service manager (%s); the show goes on without "
                      "readiness and watchdog messages", self.name, error.strerror or error)
            self.close()
            return False

    def ready(self, status=None):
        return self.send("READY=1", *([f"STATUS={status}"] if status else []))

    def ping(self, now):
        """WATCHDOG=1, at most every `interval` seconds of `now` (a monotonic clock). Call every frame."""
        if now - self._pinged >= self.interval:
            self._pinged = now
            self.send("WATCHDOG=1")

    def status(self, now, text):
        """STATUS=text, at most every STATUS_SECONDS."""
        if now - self._statused >= STATUS_SECONDS:
            self._statused = now
            self.send(f"STATUS={text}")

    def stopping(self):
        self.send("STOPPING=1", "STATUS=stopping")
        self.close()

    def close(self):
        if self.sock is not None:
            self.sock.close()
            self.sock = None
