"""The show's side: OscServer starts the receiver process, puts its Commands on the show's queue, answers
/exhibit/status and sends feedback to controllers. `start(app)` wires one into an app."""
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from exhibit import commands
from exhibit.children import started_from_main_thread
from exhibit.commands import CommandError
from exhibit.control.osc.addresses import PREFIX, Context
from exhibit.control.osc.feedback import state_messages, status_args
from exhibit.control.osc.packets import encode
from exhibit.control.osc.receiver import COUNTS
from exhibit.control.osc.security import DEFAULT_ALLOW, parse_allow

log = logging.getLogger("exhibit.control.osc")

DEFAULT_PORT = 8000
DEFAULT_FEEDBACK_PORT = 9000
MAX_PEERS = 32                       # feedback peers remembered (senders and status subscribers)
PEER_TTL = 600.0                     # seconds a peer keeps receiving feedback after it last spoke


class OscServer:
    """Starts the receiver process, puts its Commands on the show's queue, answers status, sends feedback.

    `queue` is the show's CommandQueue; `snapshot()` returns the show's state as a dict. Call
    `on_change(snapshot)` after every frame in which commands took effect (the app does, on its thread).
    """

    def __init__(self, queue, snapshot, *, bind="0.0.0.0", port=DEFAULT_PORT, allow=DEFAULT_ALLOW,
                 feedback_port=DEFAULT_FEEDBACK_PORT, feedback_targets=(), context=Context()):
        self.queue, self.snapshot = queue, snapshot
        parse_allow(allow)                                  # a bad CIDR is a config error, raised here
        self.feedback_port = feedback_port
        self.targets = [_parse_target(t) for t in feedback_targets]
        self.counts = dict.fromkeys(COUNTS, 0)              # the receiver's, as of its last batch
        self._peers = {}                   # (host, port) -> last time it spoke; feedback goes there
        self._sent = {}                    # address -> args last sent, so feedback carries only changes
        self._socks = {}                   # address family -> socket that sends feedback and replies
        self._lock = threading.Lock()
        self._options = {"bind": bind, "port": port, "allow": list(map(str, allow)), "rows": context.rows,
                         "cols": context.cols, "models": context.models and str(context.models)}
        self._stopping = threading.Event()
        self.bind, self.port = bind, self._spawn()
        self._options["port"] = self.port                   # a restarted receiver takes the same port
        self._thread = threading.Thread(target=self._relay, name="osc-relay", daemon=True)

    def _spawn(self):
        """Start the receiver process; returns the port it listens on, or raises OSError saying why not."""
        root = str(Path(__file__).resolve().parents[3])    # the folder that holds exhibit/
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        # The receiver ends with the show: see exhibit/children.py.
        options = {**self._options, "parent": os.getpid(), "tie_to_thread": started_from_main_thread()}
        self._process = subprocess.Popen([sys.executable, "-m", "exhibit.control.osc", json.dumps(options)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        try:
            first = json.loads(self._process.stdout.readline() or "{}")
        except ValueError:
            first = {}
        if "listening" not in first:
            self._end()
            raise OSError(first.get("error", "OSC: the receiver process did not start"))
        return first["listening"]

    def start(self):
        self._thread.start()
        log.info("OSC: listening on %s:%d, feedback to senders on port %s%s", self.bind, self.port,
                 self.feedback_port or "(off)", "".join(f", {h}:{p}" for h, p in self.targets))
        return self

    def stop(self):
        self._stopping.set()
        self._end()
        if self._thread.is_alive():
            self._thread.join(timeout=2)
        self._process.stdout.close()
        for sock in self._socks.values():
            sock.close()

    def _end(self):
        try:
            self._process.stdin.close()                     # the receiver's signal to finish
            self._process.wait(timeout=2)
        except OSError:
            pass
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def alive(self):
        return self._process.poll() is None

    def _relay(self):
        """Relay the receiver's batches; should it ever end on its own, say so and start another."""
        delay = 1.0
        while True:
            started = time.monotonic()
            self._pump(self._process.stdout)
            if self._stopping.is_set():
                return
            delay = 1.0 if time.monotonic() - started > 60 else min(2 * delay, 60.0)   # no tight crash loop
            log.error("OSC: the receiver process ended (exit code %s); starting it again in %g s",
                      self._process.wait(), delay)
            if self._stopping.wait(delay):
                return
            try:
                self._spawn()
            except OSError as error:
                log.error("%s; OSC is off", error)
                return

    def _pump(self, lines):
        """Lines from the receiver -> the show's queue, the log, feedback peers, status replies."""
        for line in lines:
            try:
                message = json.loads(line)
            except ValueError:
                continue
            for name, fields in message["commands"]:
                try:
                    self.queue.put(_command(name, fields))
                except (CommandError, TypeError) as error:
                    log.warning("OSC: receiver sent a bad command %s: %s", name, error)
            for text in message["log"]:
                log.warning("%s", text)
            for host in message["peers"]:
                self._remember(host, self.feedback_port)
            for host, port in message["queries"]:
                self._send(encode(f"{PREFIX}/status", *status_args(self.snapshot())), (host, port))
                self._remember(host, port, push_state=False)   # from now on this peer hears every change too
            self.counts = message["counts"]

    # feedback ----------------------------------------------------------------------------------
    def _remember(self, host, port, push_state=True):
        """A peer to keep informed; a new controller gets the full state so its faders start in place."""
        if not port:
            return
        peer = (host, port)
        with self._lock:
            is_new = peer not in self._peers
            self._peers[peer] = time.monotonic()
            if len(self._peers) > MAX_PEERS:
                del self._peers[min(self._peers, key=self._peers.get)]
        if is_new and push_state and peer not in self.targets:
            for address, args in state_messages(self.snapshot()):
                self._send(encode(address, *args), peer)

    def on_change(self, snapshot):
        """Send what changed to every feedback target and live peer. Called on the show's thread."""
        now = time.monotonic()
        with self._lock:
            changed = [(a, args) for a, args in state_messages(snapshot) if self._sent.get(a) != args]
            self._sent.update(changed)
            for peer in [p for p, seen in self._peers.items() if now - seen > PEER_TTL]:
                del self._peers[peer]
            peers = list(dict.fromkeys(self.targets + list(self._peers)))
        for address, args in changed:
            datagram = encode(address, *args)
            for peer in peers:
                self._send(datagram, peer)

    def _send(self, datagram, peer):
        family = socket.AF_INET6 if ":" in peer[0] else socket.AF_INET
        try:
            sock = self._socks.get(family)
            if sock is None:
                sock = self._socks[family] = socket.socket(family, socket.SOCK_DGRAM)
                sock.setblocking(False)      # feedback must never hold up the show's thread
            sock.sendto(datagram, peer)
        except OSError:       # full buffer, unreachable peer, closed socket: feedback is best effort
            pass


def _command(name, fields):
    """A Command rebuilt from the receiver's JSON, validated again by its constructor."""
    kind = getattr(commands, name, None)
    if not (isinstance(kind, type) and issubclass(kind, commands.Command)):
        raise CommandError(f"unknown command {name!r}")
    return kind(**fields)


def _parse_target(target):
    """'host:port' -> (numeric host, port), resolved once: the show's thread must never wait for DNS."""
    host, _, port = str(target).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"osc.feedback_targets: {target!r} must look like \"192.168.1.20:9000\"")
    try:
        info = socket.getaddrinfo(host.strip("[]"), int(port), type=socket.SOCK_DGRAM)
    except socket.gaierror as error:
        raise ValueError(f"osc.feedback_targets: cannot resolve {host!r} ({error.strerror})") from None
    return info[0][4][0], int(port)


def start(app):
    """Start the OSC server for an app: its config, queue, snapshot and on_change hooks."""
    osc, grid = app.config.osc, app.config.grid
    server = OscServer(app.queue, app.snapshot, bind=osc.bind, port=osc.port, allow=osc.allow,
                       feedback_port=osc.feedback_port, feedback_targets=osc.feedback_targets,
                       context=Context(grid.rows, grid.cols, app.config.paths.models))
    app.on_change.append(server.on_change)
    return server.start()


def bench(app, seconds):
    """`python -m exhibit bench --osc`: see exhibit/osc_bench.py."""
    from exhibit.control.osc_bench import bench as run
    return run(app, seconds)
