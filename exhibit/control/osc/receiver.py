"""The receiver process: socket -> allowlist -> guard -> address map -> batches of Commands for the show.

A flood costs the show little: each controller's datagrams wait in a queue of their own (OWN_QUEUES), the
receiver reads the queues in turn a batch at a time (the quieter ones first, and what they asked for goes to the
show before a flood's next batch is read), keeps only the newest message per continuous address (a fader sends
hundreds a second; the show needs the last) and hands the show's process a few coalesced Commands at a time.
Started by OscServer as `python -m exhibit.control.osc`.
"""
import collections
import json
import math
import os
import re
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import fields
from pathlib import Path

from exhibit.children import die_with_parent
from exhibit.commands import CommandError
from exhibit.control.osc.addresses import CONTINUOUS, PREFIX, QUERIES, Context, Rejected, pressed, translate
from exhibit.control.osc.packets import MAX_DATAGRAM, Malformed, encode, parse
from exhibit.control.osc.security import Allowlist, RateLimitedLog, parse_allow
from exhibit.control.osc.tcp import TcpServer, is_tcp

# Why a process: every recvfrom releases and retakes the GIL, so under a flood of tens of thousands of
# datagrams a second a receiving thread inside the show would trade the GIL with the render thread tens of
# thousands of times a second, and its Python work would run in turns with the render thread's instead of
# beside it on the other core. In its own process (`python -m exhibit.control.osc`, started by OscServer) the
# receiver reads, checks and coalesces in parallel, and the show hears from it at most every FLUSH_SECONDS:
# one line of JSON with the Commands, which the show's side validates again as it rebuilds them. Measured
# with a flood of 30,000 messages a second: 2% of a core in the show's process this way, 9% with a thread.

# At most 2,000 lines a second for the show, which reads them all once a frame. Under the flood of `bench --osc`
# a Command waited 2.3 ms p50 between its datagram being read and its line going out with 2 ms, 1.4 ms with 0.5.
FLUSH_SECONDS = 0.0005
# Datagrams read per wake-up before they are handled. A large batch lets a fader's many moves supersede each
# other before they are parsed; with 128, under the bench's flood the receiver read fewer datagrams a second,
# the kernel dropped more, and probes and pings were lost.
MAX_BATCH = 1024
# The socket's receive buffer is a queue every message waits in. Under a flood the receiver cannot read (a
# 2-core machine shared with the render loop and the generator), the excess is dropped whatever its size, and
# a message waits behind all the buffer holds: 4 MiB (Linux doubles it) held 10,000 small datagrams, about
# 0.5 s of reading, and `bench --osc` measured 15-20 frames p99. 256 KiB holds about 600 (a TouchOSC page
# sent at once is 200), so a message waits tens of milliseconds at most.
RECEIVE_BUFFER = 256 << 10
# Every controller gets a queue of its own in the kernel: a socket bound to the show's port (SO_REUSEPORT) and
# connected to that controller, which the kernel prefers over the shared socket for that controller's datagrams
# (Linux, and the BSDs' exact-match lookup). The loop reads the queues in turn, PEER_BATCH datagrams at a time, so a
# controller that floods fills and overflows only its own queue, and another controller's message waits behind at
# most one batch of the flood, not behind all the shared socket holds. Measured with `bench --osc`: under the flood
# /exhibit/ping answered in 24 to 48 ms p99 with one shared socket, 5 to 9 ms with a queue per controller.
# PEER_BATCH is that wait. With 64 the bench's flooded p99 was 2 frames in 4 runs of 14, with 16 in 10 of 12; the
# receiver then used about 70% of a core during the flood instead of 55% (more rounds, more flushes).
OWN_QUEUES = 32                      # controllers with a queue of their own; further senders share the first socket
PEER_BATCH = 16                      # datagrams read from one controller's queue before the others get their turn
OWN_QUEUE_IDLE = 60.0                # seconds a controller must be silent before its queue goes to a newcomer
MAX_PENDING = 1024                   # Commands held for the next flush; the oldest go first
COUNTS = ("received", "denied", "superseded", "malformed", "rejected", "commands")
PEER_REPORT_SECONDS = 10.0           # how often the receiver re-reports a sender that keeps talking


def reply_targets(sender, feedback_port):
    """Where a reply to `sender` goes: its source port, and its host's feedback port (TouchOSC, Max's
    udpreceive, oscdump listen there, while they send from another port). A TCP peer: its connection."""
    sender = tuple(sender)
    if is_tcp(sender):                               # on its own connection only
        return [sender]
    targets = [sender]                               # (an IPv6 address keeps its flowinfo and scope id)
    if feedback_port and feedback_port != sender[1]:
        targets.append((sender[0], feedback_port, *sender[2:]))
    return targets


class Receiver:
    """In the receiver process: socket -> allowlist -> guard -> address map -> batches for the show."""

    def __init__(self, sock, out, allow, context, feedback_port=0, tcp=None):
        self.sock, self.out, self.context, self.tcp = sock, out, context, tcp
        self.wake_r, self.wake_w = os.pipe()          # the stdin thread wakes the select loop with replies
        os.set_blocking(self.wake_r, False)
        self.outbox = collections.deque(maxlen=4096)
        self.feedback_port = feedback_port
        self.allowed = Allowlist(parse_allow(allow))
        self.lines = []                    # log lines for the show's process to write
        self.trouble = RateLimitedLog(self.lines.append)
        self.pending = []                  # [command, sender] in arrival order; runs of levels coalesced
        self.runs = {}                     # continuous command type -> its cell in pending, since the last barrier
        self.queries = []                  # senders that asked for /exhibit/status
        self.peers = []                    # senders new (or not reported for a while)
        self.reported = {}                 # host -> when it was last reported
        self.told = {}                     # sender -> when it was last told why a message was rejected
        self.counts = dict.fromkeys(COUNTS, 0)
        self.dirty = False
        self.flushed = 0.0
        self.own = {}                      # sender -> [its own socket, when it was last heard]
        self.sender_of = {}                # own socket -> its sender
        # Own sockets not read until the shared socket has been emptied once: their sender's earlier datagrams may
        # still wait there, and each sender's messages take effect in the order it sent them.
        self.held = set()
        # Queues whose last read filled a whole batch: a controller that floods. Each round reads the others first
        # and sends the show what they asked for before the flood's next batch is read.
        self.flooding = set()
        self.queues = hasattr(socket, "SO_REUSEPORT") and sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)

    def run(self, stopping):
        while not stopping.is_set():
            self.round()

    def round(self):
        """Wait (at most until a flush is due) for sockets to be ready, and read each once: the quieter queues
        first, then those of controllers that flood (`flooding`), with what the quieter ones asked for sent to the
        show in between; flush when FLUSH_SECONDS have passed since the last."""
        timeout = max(0.0, self.flushed + FLUSH_SECONDS - time.monotonic()) if self.dirty else 0.25
        readable = [self.sock, self.wake_r] + [q for q in self.sender_of if q not in self.held]
        readable += self.tcp.readable() if self.tcp else []
        writable = self.tcp.writable() if self.tcp else []
        ready, can_write, _ = select.select(readable, writable, [], timeout)
        floods = [sock for sock in ready if sock in self.flooding]
        for sock in [sock for sock in ready if sock not in self.flooding]:
            self._serve(sock)
        if floods and (self.pending or self.queries):
            self._flush()       # what the quieter controllers asked for goes now, not after a batch of the flood
        for sock in floods:
            self._serve(sock)
        for sock in can_write:
            self.tcp.write(sock)
        if self.tcp:
            self.tcp.expire()
        self.trouble.summarize()
        if (self.dirty or self.lines) and time.monotonic() - self.flushed >= FLUSH_SECONDS:
            self._flush()

    def _serve(self, sock):
        """Read what a ready socket has: a UDP queue, the wake-up pipe, or a TCP listener or connection."""
        if sock is self.sock or sock in self.sender_of:
            for data, sender in self._drain(sock, self.sender_of.get(sock)):
                self._handle(data, sender)
        elif sock is self.wake_r:
            self._replies()
        elif sock is self.tcp.listener:
            self.tcp.accept()
        else:
            self.tcp.read(sock, self._tcp_packet, self._tcp_trouble)

    def _drain(self, sock, peer=None):
        """Datagrams in arrival order: up to MAX_BATCH from the shared socket, or PEER_BATCH from `peer`'s own.
        A fader move replaces an earlier one from the same sender to the same address only while nothing but
        other fader moves came between (they commute)."""
        batch, runs = [], {}
        for _ in range(MAX_BATCH if peer is None else PEER_BATCH):
            try:
                if peer is None:
                    data, sender = sock.recvfrom(MAX_DATAGRAM)
                else:
                    data, sender = sock.recv(MAX_DATAGRAM), peer
            except (BlockingIOError, InterruptedError):
                if peer is None:
                    self.held.clear()       # the shared socket is empty: no sender has older datagrams there
                self.flooding.discard(sock)
                break
            except OSError:      # e.g. Windows reports an earlier send to a closed port here; not fatal
                continue
            if peer is None and self.queues and sender not in self.own:
                self._adopt(sender)
            self.counts["received"] += 1
            self.dirty = True
            if not self.allowed(sender[0]):
                self.counts["denied"] += 1
                self.trouble.warning("denied", f"OSC: dropped a packet from {sender[0]}, which is not in osc.allow")
                continue
            address = data[:data.find(b"\0")]
            if address not in CONTINUOUS:
                if data[:1] == b"/" or data[:8] == b"#bundle\0":
                    runs.clear()                              # a barrier (garbage, which can carry no command, is not)
                batch.append((data, sender))
                continue
            key = (sender, address)
            if key in runs:
                self.counts["superseded"] += 1
                batch[runs[key]] = (data, sender)
            else:
                runs[key] = len(batch)
                batch.append((data, sender))
        else:
            self.flooding.add(sock)         # a whole batch: the quieter queues go first next round
        if peer is not None and batch:
            self.own[peer][1] = time.monotonic()
        return batch

    def _adopt(self, sender):
        """Give a sender its own queue (see OWN_QUEUES), if one is free or one has been silent long enough."""
        if not self.allowed(sender[0]):
            return
        if len(self.own) >= OWN_QUEUES:
            quietest = min(self.own, key=lambda peer: self.own[peer][1])
            if time.monotonic() - self.own[quietest][1] < OWN_QUEUE_IDLE:
                return                                   # every queue is in use: this sender shares the first
            self._release(quietest)
        queue = socket.socket(self.sock.family, socket.SOCK_DGRAM)
        try:
            queue.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            queue.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            queue.bind(self.sock.getsockname())
            queue.connect(sender)
            queue.setblocking(False)
        except OSError:                                  # it shares the first socket, as every sender once did
            queue.close()
            return
        self.own[sender] = [queue, time.monotonic()]
        self.sender_of[queue] = sender
        self.held.add(queue)

    def _release(self, sender):
        """Close a sender's own queue, after handling what is still in it; it shares the first socket again."""
        queue = self.own[sender][0]
        while batch := self._drain(queue, sender):
            for data, _ in batch:
                self._handle(data, sender)
        del self.own[sender], self.sender_of[queue]
        self.held.discard(queue)
        self.flooding.discard(queue)
        queue.close()

    def close(self):
        for sender in list(self.own):
            self.own.pop(sender)[0].close()
        self.sender_of.clear()
        self.held.clear()
        self.flooding.clear()

    def _handle(self, data, sender):
        try:
            messages = parse(data)
        except Malformed as error:
            self.counts["malformed"] += 1
            self.trouble.warning("malformed packets",
                                 f"OSC: dropped a malformed packet from {sender[0]}: {error}")
            return
        now = time.monotonic()
        if now - self.reported.get(sender[0], -math.inf) > PEER_REPORT_SECONDS:
            if len(self.reported) > 4096:
                self.reported.clear()
            self.reported[sender[0]] = now
            self.peers.append(list(sender))
        for address, args in messages:
            try:
                if address in QUERIES:
                    if not pressed(args):
                        continue
                    if address.endswith("/ping"):      # answered here: proves the receiver is alive and quick
                        self._reply(sender, encode(f"{PREFIX}/pong"))
                    else:
                        self.queries.append(list(sender))  # the show's process answers with its state
                    continue
                for command in translate(address, args, self.context):
                    self._put(command, sender)
            except (Rejected, CommandError) as error:
                self.counts["rejected"] += 1
                kind = getattr(error, "kind", None) or "bad " + re.sub(r"/\d+", "/N", address[len(PREFIX):] or address)
                shown = " ".join([ascii(address)[1:-1][:80]] + [ascii(a)[:40] for a in args[:8]])[:160]
                self.trouble.warning(kind, f"OSC: rejected {shown} from {sender[0]} ({kind}): {error}")
                self._tell(sender, f"{shown}: {error}")

    def _put(self, command, sender):
        """Queue in arrival order; a level replaces a pending one of its kind only within a run of levels."""
        self.counts["commands"] += 1
        kind = type(command)
        if self.pending and command.supersedes(self.pending[-1][0]):
            self.pending[-1] = [command, list(sender)]
            return
        if command.continuous and kind in self.runs:
            self.runs[kind][0] = command
            self.runs[kind][1] = list(sender)
            return
        cell = [command, list(sender)]
        if command.continuous:
            self.runs[kind] = cell
        else:
            self.runs.clear()
        self.pending.append(cell)
        if len(self.pending) > MAX_PENDING:       # the show's queue is bounded the same way: newest intent wins
            old = self.pending.pop(0)
            self.runs = {k: c for k, c in self.runs.items() if c is not old}

    def _tcp_packet(self, packet, sender):
        self.counts["received"] += 1
        self.dirty = True
        if not self.allowed(sender[0]):
            self.counts["denied"] += 1
            self.trouble.warning("denied", f"OSC: dropped a packet from {sender[0]}, which is not in osc.allow")
            self.tcp.close(self.tcp.by_peer[sender[:2]])
            return
        self._handle(packet, sender)

    def _tcp_trouble(self, connection, reason):
        self.counts["malformed"] += 1
        self.dirty = True
        self.trouble.warning("bad TCP streams", f"OSC: closed the TCP connection from {connection.address[0]}: "
                                                f"{reason}")
        try:                            # one last word on the way out, if the peer reads it
            connection.sock.send(connection.frame(encode(f"{PREFIX}/error", f"connection closed: {reason}")))
        except OSError:
            pass

    def queue_reply(self, sender, datagram):
        """From the stdin thread: a reply the show's process wants sent on a TCP connection."""
        self.outbox.append((tuple(sender), datagram))
        os.write(self.wake_w, b"x")

    def _replies(self):
        try:
            os.read(self.wake_r, 4096)
        except OSError:
            pass
        while self.outbox:
            sender, datagram = self.outbox.popleft()
            if self.tcp:
                self.tcp.send(sender, datagram)

    def _reply(self, sender, datagram):
        if is_tcp(sender):                           # on its own connection only
            if self.tcp:
                self.tcp.send(sender, datagram)
            return
        for target in reply_targets(sender, self.feedback_port):
            try:
                self.sock.sendto(datagram, target)
            except OSError:              # an unreachable peer: replies are best effort
                pass

    def _tell(self, sender, reason):
        """Say why a message was rejected, to its sender (at most once a second each: no echo floods)."""
        now = time.monotonic()
        if now - self.told.get(tuple(sender[:2]), -math.inf) < 1.0:
            return
        if len(self.told) > 4096:
            self.told.clear()
        self.told[tuple(sender[:2])] = now
        self._reply(sender, encode(f"{PREFIX}/error", reason[:400]))

    def _flush(self):
        # fields as they are (json writes a tuple as a list): dataclasses.asdict deep-copies a 196-tile group
        commands = [[type(command).__name__, {f.name: getattr(command, f.name) for f in fields(command)}, sender]
                    for command, sender in self.pending]
        self.out({"commands": commands, "queries": self.queries, "peers": self.peers, "log": self.lines,
                  "counts": self.counts})
        self.pending, self.runs = [], {}
        self.queries, self.peers = [], []
        self.lines.clear()                 # (the rate-limited log appends to this very list)
        self.dirty, self.flushed = False, time.monotonic()


def shared_socket(bind, port):
    """The UDP socket every sender reaches first, on bind:port (0: any free port); raises OSError if it is taken.

    It is bound once without SO_REUSEPORT, which fails if any other socket holds the port (another show, another
    OSC program), and then bound again with it, so that controllers' own queues (OWN_QUEUES) can join it. Where
    the system has no SO_REUSEPORT (Windows) the first binding stays and every sender shares it.
    """
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind((bind, port))
        if hasattr(socket, "SO_REUSEPORT"):
            address = sock.getsockname()
            sock.close()
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind(address)
        sock.setblocking(False)
        return sock
    except OSError:
        sock.close()
        raise


def receive(options):
    """The receiver process: bind, say so (or why not) on stdout, serve until stdin closes."""
    # Ctrl+C and a service manager's SIGTERM reach the whole process group; they are for the show, which then
    # stops us in order (and if the show dies, stdin closes and we end anyway).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if "parent" in options:
        die_with_parent(options["parent"], options.get("tie_to_thread", False))

    def out(message):
        sys.stdout.write(json.dumps(message) + "\n")
        sys.stdout.flush()

    bind, port = options["bind"], options["port"]
    try:
        sock = shared_socket(bind, port)
    except OSError as error:
        out({"error": f"OSC: cannot listen on {bind}:{port} ({error.strerror or error}); "
                      f"is another show running? Use --osc-port or set osc.port"})
        return 1
    port = sock.getsockname()[1]
    tcp, notes = None, []
    if options.get("tcp", True):
        try:
            tcp = TcpServer(bind, port)
        except OSError as error:       # TCP is a second way in; the show plays on without it
            notes.append(f"OSC: no TCP on {bind}:{port} ({error.strerror or error}); UDP only")
    out({"listening": port, "tcp": bool(tcp), "log": notes})
    stopping = threading.Event()
    context = Context(options["rows"], options["cols"], options["models"] and Path(options["models"]))
    receiver = Receiver(sock, out, options["allow"], context, options.get("feedback_port", 0), tcp)

    def watch_parent():        # replies for TCP peers, one JSON line each; stdin closes when the show stops us
        for line in sys.stdin.buffer:
            try:
                sender, data = json.loads(line)
                receiver.queue_reply(sender, bytes.fromhex(data))
            except (ValueError, TypeError):
                continue
        stopping.set()
        os.write(receiver.wake_w, b"x")

    threading.Thread(target=watch_parent, daemon=True).start()
    try:
        receiver.run(stopping)
    except BrokenPipeError:
        pass
    finally:
        receiver.close()
        sock.close()
        if tcp:
            tcp.close_all()
    return 0
