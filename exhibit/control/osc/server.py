"""The show's side: OscServer starts the receiver process, puts its Commands on the show's queue, answers
/exhibit/status and sends feedback to controllers. `start(app)` wires one into an app."""
import collections
import json
import logging
import math
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from exhibit import commands
from exhibit.children import started_from_main_thread
from exhibit.commands import CommandError, describe
from exhibit.config import OSC_FEEDBACK_PORT as DEFAULT_FEEDBACK_PORT, OSC_PORT as DEFAULT_PORT
from exhibit.control.osc.addresses import PREFIX, Context
from exhibit.control.osc.feedback import state_messages, status_args
from exhibit.control.osc.packets import encode
from exhibit.control.osc.receiver import COUNTS, reply_targets
from exhibit.control.osc.security import DEFAULT_ALLOW, parse_allow
from exhibit.control.osc.tcp import is_tcp

log = logging.getLogger("exhibit.control.osc")

MAX_PEERS = 32                       # feedback peers remembered (senders and status subscribers)
PEER_TTL = 600.0                     # seconds a peer keeps receiving feedback after it last spoke
MAX_ASKED = 1024                     # Commands remembered with their sender, so a late failure finds it
RELAY_SECONDS = 0.05                 # the relay thread takes a batch the show's loop has left this long
WELCOME_SECONDS = 0.3                # a new controller's greeting waits at most this long for its message


class OscServer:
    """Starts the receiver process, puts its Commands on the show's queue, answers status, sends feedback.

    `queue` is the show's CommandQueue; `snapshot()` returns the show's state as a dict. Call
    `on_change(snapshot)` after every frame in which commands took effect (the app does, on its thread).
    """

    def __init__(self, queue, snapshot, *, bind="0.0.0.0", port=DEFAULT_PORT, allow=DEFAULT_ALLOW,
                 feedback_port=DEFAULT_FEEDBACK_PORT, feedback_targets=(), context=Context()):
        self.queue, self.snapshot = queue, snapshot
        self.tiles = context.rows * context.cols            # each tile's hold goes back as feedback
        parse_allow(allow)                                  # a bad CIDR is a config error, raised here
        self.feedback_port = feedback_port
        self.targets = [_parse_target(t) for t in feedback_targets]
        self.counts = dict.fromkeys(COUNTS, 0)              # the receiver's, as of its last batch
        self.last_peer = ""                                 # host that last sent a message (for status and health)
        self._peers = {}                   # (host, port) -> last time it spoke; feedback goes there
        self._sent = {}                    # address -> args last sent, so feedback carries only changes
        self._held = None                  # the held tiles as last compared, so 196 hold messages are not
                                           # rebuilt and compared after every frame that changed something else
        self._greeted = {}                 # (host, feedback port) or sender -> when it was last greeted
        self._welcome = {}                 # sender -> when it first spoke; greeted once its message took effect
        self._asked = collections.OrderedDict()   # id(command) -> (command, sender), for on_result
        self._socks = {}                   # address family -> socket that sends feedback and replies
        self._lock = threading.Lock()
        self._stdin_lock = threading.Lock()
        self._reading = threading.Lock()   # the receiver's output is read by poll() or the relay thread, one at a time
        self._partial = b""                # the start of a line the receiver has not finished writing
        self._polled = 0.0                 # when poll() last read, so the relay thread knows the show is reading
        self._ended = False                # the receiver's output has ended (it exited)
        self.parts = []                    # what start() runs beside it and stop() ends with it
        self._options = {"bind": bind, "port": port, "feedback_port": feedback_port,
                         "allow": list(map(str, allow)), "rows": context.rows,
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
        # Unbuffered (bufsize=0): after the first line no later byte may hide in a file object's buffer, since
        # from then on the pipe is read with os.read by whichever of poll() and the relay thread comes first.
        self._process = subprocess.Popen([sys.executable, "-m", "exhibit.control.osc", json.dumps(options)],
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, bufsize=0)
        try:
            first = json.loads(self._process.stdout.readline() or "{}")
        except ValueError:
            first = {}
        if "listening" not in first:
            self._end()
            raise OSError(first.get("error", "OSC: the receiver process did not start"))
        for text in first.get("log", []):
            log.warning("%s", text)
        self.tcp = first.get("tcp", False)
        os.set_blocking(self._process.stdin.fileno(), False)   # replies for TCP peers must never block us
        os.set_blocking(self._process.stdout.fileno(), False)  # poll() on the show's thread never waits
        self._partial, self._ended = b"", False
        return first["listening"]

    def start(self):
        self._thread.start()
        log.info("OSC: listening on %s:%d, feedback to senders on port %s%s", self.bind, self.port,
                 self.feedback_port or "(off)", "".join(f", {h}:{p}" for h, p in self.targets))
        return self

    def stop(self):
        for part in self.parts:                 # the OSCQuery server and the zeroconf advertisement
            part.stop()
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

    @property
    def pid(self):
        """The receiver process's id (for measuring it: `bench --osc`)."""
        return self._process.pid

    def poll(self):
        """Take what the receiver has written so far, on the calling thread: the show's, just before it
        applies the queued Commands, once a frame. Never waits.

        Why not the relay thread alone: it can put a Command on the queue only once it holds Python's GIL,
        which the render loop holds while it draws and gives up at the interpreter's switch interval (5 ms).
        `bench --osc` measured the hand-over at 6 to 8 ms p99 that way, enough to miss the next frame; read
        here, a batch the receiver has written is in the very next frame."""
        if self._reading.acquire(blocking=False):       # else the relay thread is pumping right now: it has them
            try:
                self._polled = time.monotonic()
                self._read()
            finally:
                self._reading.release()

    def _read(self):
        """Pump every whole line the receiver has written; returns False once its output has ended."""
        while True:
            try:
                chunk = os.read(self._process.stdout.fileno(), 1 << 16)
            except BlockingIOError:
                return True
            except (OSError, ValueError):                   # closed by stop()
                return False
            if not chunk:
                self._ended = True
                return False
            *lines, self._partial = (self._partial + chunk).split(b"\n")
            self._pump(lines)

    def _follow(self):
        """On the relay thread, until the receiver's output ends: pump what the show's loop has not taken
        within RELAY_SECONDS (the loop is stalled, or the server runs without one). Otherwise it stays out
        of the loop's way, so its own wake-ups seldom take the GIL from the render loop."""
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([self._process.stdout], [], [], 1.0)
            except (OSError, ValueError):
                return
            if self._ended:                                 # poll() read the end of it
                return
            idle = time.monotonic() - self._polled
            if ready and idle < RELAY_SECONDS:
                self._stopping.wait(RELAY_SECONDS - idle)   # the loop is reading: it will likely take this batch
            elif ready:
                with self._reading:
                    if not self._read():
                        return

    def _relay(self):
        """Relay the receiver's batches; should it ever end on its own, say so and start another."""
        delay = 1.0
        while True:
            started = time.monotonic()
            self._follow()
            if self._stopping.is_set():
                return
            delay = 1.0 if time.monotonic() - started > 60 else min(2 * delay, 60.0)   # no tight crash loop
            log.error("OSC: the receiver process ended (exit code %s); starting it again in %g s",
                      self._process.wait(), delay)
            if self._stopping.wait(delay):
                return
            try:
                with self._reading:                     # poll() must not read the new receiver's first line
                    self._spawn()
            except OSError as error:
                log.error("%s; OSC is off", error)
                return

    def _pump(self, lines):
        """Lines (bytes) from the receiver -> the show's queue, the log, feedback peers, status replies.

        The receiver writes a line every FLUSH_SECONDS and the show reads once a frame, so under a flood it finds
        thirty lines at a time, each with a fader move or two. They are parsed as one JSON array, and a level
        that a later one of its kind replaces before any other command comes is dropped before it is rebuilt
        (the queue would drop it too: see `_coalesced`). Replaying what the show read during the flood of
        `bench --osc` (28 lines a frame), this halved the show's thread's work here: 0.9-1.2 ms to 0.5-0.6 ms.
        """
        messages = _parsed(lines)
        senders = set()
        for name, fields, sender in _coalesced(c for message in messages for c in message["commands"]):
            try:
                command = _command(name, fields)
            except (CommandError, TypeError) as error:
                log.warning("OSC: receiver sent a bad command %s: %s", name, error)
                continue
            self.queue.put(command)
            sender = tuple(sender)
            senders.add(sender)
            with self._lock:
                self._asked[id(command)] = (command, sender)
                while len(self._asked) > MAX_ASKED:
                    self._asked.popitem(last=False)
        for message in messages:
            for text in message["log"]:
                log.warning("%s", text)
            for sender in map(tuple, message["peers"]):
                self._greet(sender, wait=sender in senders)
                self.last_peer = sender[0]
            for sender in map(tuple, message["queries"]):
                datagram = encode(f"{PREFIX}/status", *status_args(self.snapshot()))
                for target in reply_targets(sender, self.feedback_port):
                    self._send(datagram, target)
                self._keep(sender)              # from now on this peer hears every change too
        if messages:
            self.counts = messages[-1]["counts"]

    # feedback ----------------------------------------------------------------------------------
    def _keep(self, peer):
        with self._lock:
            self._peers[peer] = time.monotonic()
            if len(self._peers) > MAX_PEERS:
                del self._peers[min(self._peers, key=self._peers.get)]

    def _greet(self, sender, wait):
        """A controller that speaks gets the whole state once, at its source port and on the feedback port,
        then only changes. If its own message is still on its way to the show (wait), the state goes out
        after it took effect (see on_change), so a fader being moved never jumps back."""
        host, port = sender[:2]
        tcp = is_tcp(sender)
        if tcp:
            self._keep(sender)                # a TCP peer hears every change on its connection
        elif self.feedback_port:
            self._keep((host, self.feedback_port))
        key = (host, self.feedback_port) if self.feedback_port and not tcp else sender
        now = time.monotonic()
        with self._lock:
            known = now - self._greeted.get(key, -math.inf) < PEER_TTL
            if len(self._greeted) > 4096:
                self._greeted.clear()
            self._greeted[key] = now
        if known or sender in self.targets:
            return
        if not wait:
            self._welcome_now([sender])
            return
        with self._lock:
            self._welcome[sender] = time.monotonic()
        timer = threading.Timer(WELCOME_SECONDS, self._welcome_due)
        timer.daemon = True
        timer.start()

    def _welcome_due(self):
        """The greeting's last resort: its message changed nothing, so no on_change came."""
        with self._lock:
            due = [p for p, t in self._welcome.items() if time.monotonic() - t >= WELCOME_SECONDS * 0.9]
            for peer in due:
                del self._welcome[peer]
        self._welcome_now(due)

    def _welcome_now(self, senders, snapshot=None):
        if not senders:
            return
        messages = [encode(address, *args) for address, args in state_messages(snapshot or self.snapshot(), self.tiles)]
        for sender in senders:
            for target in reply_targets(sender, self.feedback_port):
                for datagram in messages:
                    self._send(datagram, target)

    def on_result(self, command, error=None, done=None):
        """How a Command ended, from the app: a failure (now or later: a model that would not load, an empty
        scene slot) goes to the controller that asked as /exhibit/error, a slow success as /exhibit/done."""
        with self._lock:
            entry = self._asked.get(id(command))
        if entry is None or entry[0] is not command:
            return
        address, text = (f"{PREFIX}/error", error) if error else (f"{PREFIX}/done", done)
        if not text:
            return
        datagram = encode(address, f"{describe(command)}: {text}"[:400])
        for target in reply_targets(entry[1], self.feedback_port):
            self._send(datagram, target)

    def on_change(self, snapshot):
        """Send what changed to every feedback target and live peer; the whole state to controllers waiting
        for their greeting once their own message took effect. Called on the show's thread."""
        now = time.monotonic()
        with self._lock:
            held = snapshot.get("held")
            tiles = self.tiles if held != self._held else 0
            self._held = held
            changed = [(a, args) for a, args in state_messages(snapshot, tiles) if self._sent.get(a) != args]
            self._sent.update(changed)
            for peer in [p for p, seen in self._peers.items() if now - seen > PEER_TTL]:
                del self._peers[peer]
            welcome = []
            if self._welcome and not len(self.queue):     # their Commands were all applied before this call
                welcome, self._welcome = list(self._welcome), {}
            skip = {t for sender in welcome for t in reply_targets(sender, self.feedback_port)}
            peers = [p for p in dict.fromkeys(self.targets + list(self._peers)) if p not in skip]
        for address, args in changed:
            datagram = encode(address, *args)
            for peer in peers:
                self._send(datagram, peer)
        self._welcome_now(welcome, snapshot)

    def _send(self, datagram, peer):
        if is_tcp(peer):                      # the receiver process holds its connection
            line = (json.dumps([list(peer), datagram.hex()]) + "\n").encode()
            if len(line) > select.PIPE_BUF:   # only whole lines: a pipe write up to PIPE_BUF is never split
                return
            with self._stdin_lock:
                try:
                    os.write(self._process.stdin.fileno(), line)
                except (BlockingIOError, OSError, ValueError):   # full (the receiver is busy) or gone
                    pass
            return
        family = socket.AF_INET6 if ":" in peer[0] else socket.AF_INET
        try:
            sock = self._socks.get(family)
            if sock is None:
                sock = self._socks[family] = socket.socket(family, socket.SOCK_DGRAM)
                sock.setblocking(False)      # feedback must never hold up the show's thread
            sock.sendto(datagram, peer)
        except OSError:       # full buffer, unreachable peer, closed socket: feedback is best effort
            pass


def _parsed(lines):
    """The receiver's lines (bytes, one JSON object each) -> their objects, in order; a line that does not parse
    (the receiver cut off as it ended) is skipped."""
    lines = [line for line in lines if line.strip()]
    try:
        return json.loads(b"[" + b",".join(lines) + b"]")      # one parse for a frame's thirty lines
    except ValueError:
        parsed = []
        for line in lines:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                pass
        return parsed


def _coalesced(entries):
    """[name, fields, sender] in arrival order, without the levels (continuous Commands: faders) that a later one
    of the same kind replaces before any other command comes: CommandQueue.put's rule, applied before they are
    rebuilt. As in the queue, the newest value takes the place of the first of its run."""
    kept, runs = [], {}
    for entry in entries:
        name = entry[0]
        if not getattr(getattr(commands, name, None), "continuous", False):
            runs.clear()                # a barrier: a later level must not jump ahead of it
        elif name in runs:
            kept[runs[name]] = entry
            continue
        else:
            runs[name] = len(kept)
        kept.append(entry)
    return kept


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
    """Start the OSC server for an app (its config, queue, snapshot, on_change and on_result hooks), the
    OSCQuery server and the zeroconf advertisement beside it (each may fail alone, with one log line)."""
    from exhibit.control.osc.discovery import Advertiser, instance_name
    from exhibit.control.osc.query import QueryServer

    osc, grid = app.config.osc, app.config.grid
    context = Context(grid.rows, grid.cols, app.config.paths.models)
    server = OscServer(app.queue, app.snapshot, bind=osc.bind, port=osc.port, allow=osc.allow,
                       feedback_port=osc.feedback_port, feedback_targets=osc.feedback_targets, context=context)
    app.on_change.append(server.on_change)
    getattr(app, "on_result", []).append(server.on_result)
    server.start()
    query_port = 0
    if osc.query_port:
        try:
            query = QueryServer(app.snapshot, bind=osc.bind, port=osc.query_port, osc_port=server.port,
                                tcp=server.tcp, allow=osc.allow, name=instance_name(), context=context)
            server.parts.append(query.start())
            query_port = query.port
        except OSError as error:
            log.warning("OSCQuery: cannot listen on port %d (%s); set osc.query_port", osc.query_port,
                        error.strerror or error)
    if osc.advertise:
        server.parts.append(Advertiser(server.port, tcp=server.tcp, query_port=query_port, bind=osc.bind).start())
    return server
