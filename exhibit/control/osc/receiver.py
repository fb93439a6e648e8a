"""The receiver process: socket -> allowlist -> guard -> address map -> batches of Commands for the show.

A flood costs the show little: the receiver drains the socket in batches, keeps only the newest message per
continuous address (a fader sends hundreds a second; the show needs the last) and hands the show's process a
few coalesced Commands at a time. Started by OscServer as `python -m exhibit.control.osc`.
"""
import json
import math
import select
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path

from exhibit.children import die_with_parent
from exhibit.commands import CommandError, CommandQueue
from exhibit.control.osc.addresses import CONTINUOUS, PREFIX, QUERIES, Context, Rejected, pressed, translate
from exhibit.control.osc.packets import MAX_DATAGRAM, Malformed, encode, parse
from exhibit.control.osc.security import Allowlist, RateLimitedLog, parse_allow

# Why a process: every recvfrom releases and retakes the GIL, so under a flood of tens of thousands of
# datagrams a second a receiving thread inside the show would trade the GIL with the render thread tens of
# thousands of times a second, and its Python work would run in turns with the render thread's instead of
# beside it on the other core. In its own process (`python -m exhibit.control.osc`, started by OscServer) the
# receiver reads, checks and coalesces in parallel, and the show hears from it at most every FLUSH_SECONDS:
# one line of JSON with the Commands, which the show's side validates again as it rebuilds them. Measured
# with a flood of 30,000 messages a second: 2% of a core in the show's process this way, 9% with a thread.

FLUSH_SECONDS = 0.002
MAX_BATCH = 1024                     # datagrams read per wake-up before they are handled
COUNTS = ("received", "denied", "superseded", "malformed", "rejected", "commands")
PEER_REPORT_SECONDS = 10.0           # how often the receiver re-reports a sender that keeps talking


class Receiver:
    """In the receiver process: socket -> allowlist -> guard -> address map -> batches for the show."""

    def __init__(self, sock, out, allow, context):
        self.sock, self.out, self.context = sock, out, context
        self.allowed = Allowlist(parse_allow(allow))
        self.lines = []                    # log lines for the show's process to write
        self.trouble = RateLimitedLog(self.lines.append)
        self.pending = CommandQueue()      # coalesces fader moves between flushes, bounded like the show's
        self.queries = []                  # senders that asked for /exhibit/status
        self.peers = []                    # sender hosts new (or not reported for a while)
        self.reported = {}                 # host -> when it was last reported
        self.told = {}                     # sender -> when it was last told why a message was rejected
        self.counts = dict.fromkeys(COUNTS, 0)
        self.dirty = False
        self.flushed = 0.0

    def run(self, stopping):
        while not stopping.is_set():
            timeout = max(0.0, self.flushed + FLUSH_SECONDS - time.monotonic()) if self.dirty else 0.25
            if select.select([self.sock], [], [], timeout)[0]:
                for data, sender in self._drain():
                    self._handle(data, sender)
            if self.dirty and time.monotonic() - self.flushed >= FLUSH_SECONDS:
                self._flush()

    def _drain(self):
        """Up to MAX_BATCH datagrams, keeping only the newest per continuous address and sender."""
        batch = {}
        for _ in range(MAX_BATCH):
            try:
                data, sender = self.sock.recvfrom(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:      # e.g. Windows reports an earlier send to a closed port here; not fatal
                continue
            self.counts["received"] += 1
            self.dirty = True
            if not self.allowed(sender[0]):
                self.counts["denied"] += 1
                self.trouble.warning("denied", f"OSC: dropped a packet from {sender[0]}, which is not in osc.allow")
                continue
            address = data[:data.find(b"\0")]
            key = (sender, address if address in CONTINUOUS else data)
            if batch.pop(key, None):
                self.counts["superseded"] += 1
            batch[key] = (data, sender)
        return list(batch.values())

    def _handle(self, data, sender):
        try:
            messages = parse(data)
        except Malformed as error:
            self.counts["malformed"] += 1
            self.trouble.warning("malformed", f"OSC: dropped a malformed packet from {sender[0]}: {error}")
            return
        now = time.monotonic()
        if now - self.reported.get(sender[0], -math.inf) > PEER_REPORT_SECONDS:
            self.reported[sender[0]] = now
            self.peers.append(sender[0])
        for address, args in messages:
            try:
                if address in QUERIES:
                    if not pressed(args):
                        continue
                    if address.endswith("/ping"):      # answered here: proves the receiver is alive and quick
                        self.sock.sendto(encode(f"{PREFIX}/pong"), sender)
                    else:
                        self.queries.append(sender[:2])  # the show's process answers with its state
                    continue
                for command in translate(address, args, self.context):
                    self.pending.put(command)
                    self.counts["commands"] += 1
            except (Rejected, CommandError) as error:
                self.counts["rejected"] += 1
                shown = " ".join([ascii(address)[1:-1]] + [ascii(a) for a in args])[:120]
                self.trouble.warning("rejected", f"OSC: rejected {shown} from {sender[0]}: {error}")
                self._tell(sender, f"{shown}: {error}")
            except OSError:
                pass

    def _tell(self, sender, reason):
        """Say why a message was rejected, to its sender (at most once a second each: no echo floods)."""
        now = time.monotonic()
        if now - self.told.get(sender, -math.inf) < 1.0:
            return
        if len(self.told) > 4096:
            self.told.clear()
        self.told[sender] = now
        self.sock.sendto(encode(f"{PREFIX}/error", reason[:400]), sender)

    def _flush(self):
        commands = [[type(command).__name__, asdict(command)] for command in self.pending.drain()]
        self.out({"commands": commands, "queries": self.queries, "peers": self.peers, "log": self.lines,
                  "counts": self.counts})
        self.queries, self.peers = [], []
        self.lines.clear()                 # (the rate-limited log appends to this very list)
        self.dirty, self.flushed = False, time.monotonic()


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
    sock = socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)  # room for a burst
        sock.bind((bind, port))
    except OSError as error:
        out({"error": f"OSC: cannot listen on {bind}:{port} ({error.strerror or error}); "
                      f"is another show running? Use --osc-port or set osc.port"})
        return 1
    sock.setblocking(False)
    out({"listening": sock.getsockname()[1]})
    stopping = threading.Event()

    def watch_parent():        # stdin closes when the show stops us, or when it dies
        sys.stdin.buffer.read()
        stopping.set()

    threading.Thread(target=watch_parent, daemon=True).start()
    context = Context(options["rows"], options["cols"], options["models"] and Path(options["models"]))
    try:
        Receiver(sock, out, options["allow"], context).run(stopping)
    except BrokenPipeError:
        pass
    finally:
        sock.close()
    return 0
