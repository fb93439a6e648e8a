"""Live control over OSC: messages under /exhibit become Commands; the state goes back as feedback.

Peers (TouchOSC on a tablet, Max/MSP, TouchDesigner, QLab, `python -m exhibit send`) send to port 8000;
the state comes back to the sender's host on port 9000 (TouchOSC's own defaults), to the configured
feedback targets, and to every peer that asked for /exhibit/status, so faders follow changes made
elsewhere. The address table is ROUTES below and the README.

Receiving runs in a small process of its own (see "the receiver" below) with its own socket loop, not
python-osc's server classes, because it has to survive anything a network can deliver. python-osc parses
single messages; this module checks everything around them first:
- Bundles are walked here, element sizes checked, nesting and element count bounded (python-osc 1.10.2
  loops forever on a negative element size). Timetags are ignored: every message acts on arrival, so a
  bundle stamped for next year cannot hold anything up.
- Datagrams from senders outside the allowlist (CIDRs; loopback and private networks by default), truncated
  or non-UTF-8 datagrams and unsupported argument types are dropped; bad arguments are rejected. Each kind
  of trouble is logged at most once per few seconds, with a count of what was left unsaid.
- A flood costs the show little: the receiver drains the socket in batches, keeps only the newest message
  per continuous address (a fader sends hundreds a second; the show needs the last) and hands the show's
  process a few coalesced Commands at a time; the show's CommandQueue is bounded and coalescing too.
  Handlers only build Commands; the show applies them between frames.
"""
import ipaddress
import json
import logging
import math
import os
import re
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder

from exhibit import commands
from exhibit.commands import (
    MAX_BRIGHTNESS, MAX_PSI, MAX_SPEED, MODES, CommandError, CommandQueue, LoadModel, Pause, RecallScene, Reseed,
    ReseedTile, Resume, SaveScene, Screenshot, SetBlackout, SetBrightness, SetCaptions, SetMode, SetPsi,
    SetSpeed, StartWave)

log = logging.getLogger("exhibit.osc")

PREFIX = "/exhibit"
DEFAULT_PORT = 8000
DEFAULT_FEEDBACK_PORT = 9000
# Loopback, private (RFC 1918), link-local and IPv6 unique-local networks: the gallery's own LAN.
DEFAULT_ALLOW = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",
                 "169.254.0.0/16", "fc00::/7", "fe80::/10")

MAX_DATAGRAM = 65535
MAX_BUNDLE_DEPTH = 4
MAX_BUNDLE_MESSAGES = 256
ARG_TYPES = set("ifdhsTFN")          # what our addresses can use; blobs, MIDI, arrays... are dropped
MAX_BATCH = 1024                     # datagrams read per wake-up before they are handled
MAX_PEERS = 32                       # feedback peers remembered (senders and status subscribers)
PEER_TTL = 600.0                     # seconds a peer keeps receiving feedback after it last spoke


class Malformed(ValueError):
    """A datagram that is not a well-formed OSC packet we accept."""


class Rejected(ValueError):
    """A well-formed message whose address or arguments are not acceptable."""


# --- the guard: datagram -> messages -------------------------------------------------------------

def parse(datagram):
    """All messages in a datagram as (address, args) pairs, or Malformed. Bundles are flattened."""
    messages = []
    _parse_into(memoryview(datagram), messages, depth=0)
    return messages


def _parse_into(data, messages, depth):
    if data[:8] == b"#bundle\0":
        if depth >= MAX_BUNDLE_DEPTH:
            raise Malformed(f"bundle nested deeper than {MAX_BUNDLE_DEPTH}")
        if len(data) < 16:
            raise Malformed("bundle shorter than its header")
        index = 16                                     # '#bundle\0' and the timetag, which we ignore
        while index < len(data):
            if index + 4 > len(data):
                raise Malformed("bundle element size truncated")
            (size,) = struct.unpack_from(">i", data, index)
            index += 4
            if size <= 0 or size % 4 or index + size > len(data):
                raise Malformed(f"bundle element size {size} does not fit the datagram")
            _parse_into(data[index:index + size], messages, depth + 1)
            index += size
        return
    if len(messages) >= MAX_BUNDLE_MESSAGES:
        raise Malformed(f"more than {MAX_BUNDLE_MESSAGES} messages in one packet")
    messages.append(_parse_message(bytes(data)))


def _parse_message(data):
    if not data.startswith(b"/"):
        raise Malformed("neither a message nor a bundle")
    end = data.find(b"\0")
    if end < 0 or len(data) % 4:
        raise Malformed("truncated message")
    tags_at = (end + 4) & ~3
    if tags_at < len(data):
        tag_end = data.find(b"\0", tags_at)
        if data[tags_at:tags_at + 1] != b"," or tag_end < 0:
            raise Malformed("bad type tag string")
        unsupported = set(data[tags_at + 1:tag_end].decode("ascii", "replace")) - ARG_TYPES
        if unsupported:
            raise Malformed(f"unsupported argument type {''.join(sorted(unsupported))!r}")
    try:
        message = OscMessage(data)
        return message.address, message.params
    except Exception as error:                        # python-osc's ParseError, UnicodeDecodeError, ...
        raise Malformed(f"unparseable message ({type(error).__name__})") from None


def encode(address, *args):
    """One OSC message as bytes. Python bools become T/F, ints i, floats f, strings s."""
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build().dgram


# --- the address map: (address, args) -> Commands -------------------------------------------------

@dataclass(frozen=True)
class Level:
    """A continuous control. `/exhibit/<name> x` takes the value; `/exhibit/<name>/fader f` takes 0..1,
    mapped as top * f**curve, so that a plain fader covers the range with the neutral value in reach."""
    name: str
    command: type
    top: float
    curve: float = 1.0

    def from_fader(self, f):
        return self.top * f ** self.curve

    def to_fader(self, value):
        return min(1.0, max(0.0, value / self.top)) ** (1.0 / self.curve)


LEVELS = (
    Level("speed", SetSpeed, MAX_SPEED, curve=3.0),   # fader 0.5 -> 1, the configured pace
    Level("psi", SetPsi, MAX_PSI),
    Level("blackout", SetBlackout, 1.0),
    Level("brightness", SetBrightness, MAX_BRIGHTNESS),  # fader 0.5 -> 1, neutral
)
# Addresses where only the newest message in a burst matters (a batch keeps only the last of each).
CONTINUOUS = {f"{PREFIX}/{level.name}{form}".encode() for level in LEVELS for form in ("", "/fader")}
QUERIES = (f"{PREFIX}/ping", f"{PREFIX}/status")


@dataclass(frozen=True)
class Context:
    """What the address map needs to know about the show to check arguments."""
    rows: int = 14
    cols: int = 14
    models: Path | None = None


def _number(args, i=0):
    value = args[i]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Rejected(f"argument {i + 1} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise Rejected(f"argument {i + 1} must be finite, got {value!r}")
    return value


def _count(args, lo, hi):
    if not lo <= len(args) <= hi:
        wanted = str(lo) if lo == hi else f"{lo} to {hi}"
        raise Rejected(f"takes {wanted} argument{'s' if hi != 1 else ''}, got {len(args)}")


def _pressed(args):
    """Button form: no argument or a non-zero one fires; 0 (a TouchOSC button's release) does nothing."""
    _count(args, 0, 1)
    if not args:
        return True
    if isinstance(args[0], bool):
        return args[0]
    return _number(args) != 0


def _fader(args):
    _count(args, 1, 1)
    value = _number(args)
    if not 0.0 <= value <= 1.0:
        raise Rejected(f"a fader value must be in 0..1, got {value:g}")
    return float(value)


def _one_number(args):
    _count(args, 1, 1)
    return _number(args)


def _seed(args):
    _count(args, 0, 1)
    return _number(args) if args else None


def _tile(ctx, n):
    n = int(n)
    if n >= ctx.rows * ctx.cols:
        raise Rejected(f"tile must be in 0..{ctx.rows * ctx.cols - 1}, got {n}")
    return n


def _model(ctx, args):
    _count(args, 1, 1)
    name = args[0]
    command = LoadModel(name)                       # rejects paths, '..', hidden and empty names
    if ctx.models is None:
        raise Rejected("no models folder is configured (paths.models)")
    folder = Path(ctx.models).resolve()
    for path in (folder / name, folder / f"{name}.keras"):    # the extension may be left out
        path = path.resolve()                                  # (a symlink out of the folder fails here)
        if path.parent == folder and path.is_file():
            return [command]
    raise Rejected(f"no model file {name!r} in the models folder")


def _captions(args):
    _count(args, 1, 1)
    if isinstance(args[0], bool):
        return [SetCaptions(args[0])]
    value = _number(args)
    if not 0.0 <= value <= 1.0:
        raise Rejected(f"captions takes 0 or 1 (or a 0..1 toggle), got {value:g}")
    return [SetCaptions(value >= 0.5)]


def _mode(args):
    _count(args, 1, 1)
    if not isinstance(args[0], str):
        raise Rejected(f"mode takes a string ({', '.join(MODES)}), got {args[0]!r}")
    return [SetMode(args[0])]


def _wave_xy(ctx, args):
    """An XY pad: x 0..1 left to right, y 0..1 top to bottom -> the tile under that point."""
    _count(args, 2, 2)
    x, y = _number(args, 0), _number(args, 1)
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise Rejected(f"x and y must be in 0..1, got {x:g} {y:g}")
    return [StartWave(min(ctx.rows - 1, int(y * ctx.rows)), min(ctx.cols - 1, int(x * ctx.cols)))]


def _wave(ctx, args):
    _count(args, 2, 2)
    row, col = _number(args, 0), _number(args, 1)
    if not (0 <= row < ctx.rows and 0 <= col < ctx.cols):
        raise Rejected(f"row must be in 0..{ctx.rows - 1} and column in 0..{ctx.cols - 1}, got {row:g} {col:g}")
    return [StartWave(row, col)]


# (pattern, handler(ctx, args, **groups) -> [Command]). {n} is a number, {name} a word.
ROUTES = [
    ("/pause", lambda ctx, args: [Pause()] if _pressed(args) else [Resume()]),
    ("/resume", lambda ctx, args: [Resume()] if _pressed(args) else []),
    ("/mode", lambda ctx, args: _mode(args)),
    ("/mode/{name}", lambda ctx, args, name: [SetMode(name)] if _pressed(args) else []),
    ("/reseed", lambda ctx, args: [Reseed(_seed(args))]),
    ("/reseed/button", lambda ctx, args: [Reseed()] if _pressed(args) else []),
    ("/tile/{n}/reseed", lambda ctx, args, n: [ReseedTile(_tile(ctx, n), _seed(args))]),
    ("/tile/{n}/reseed/button", lambda ctx, args, n: [ReseedTile(_tile(ctx, n))] if _pressed(args) else []),
    ("/wave", _wave),
    ("/wave/xy", _wave_xy),
    ("/scene/save", lambda ctx, args: [SaveScene(_one_number(args))]),
    ("/scene/recall", lambda ctx, args: [RecallScene(_one_number(args))]),
    ("/scene/{n}/save", lambda ctx, args, n: [SaveScene(int(n))] if _pressed(args) else []),
    ("/scene/{n}/recall", lambda ctx, args, n: [RecallScene(int(n))] if _pressed(args) else []),
    ("/captions", lambda ctx, args: _captions(args)),
    ("/model", _model),
    ("/screenshot", lambda ctx, args: [Screenshot()] if _pressed(args) else []),
]
for _lv in LEVELS:
    ROUTES.append((f"/{_lv.name}", lambda ctx, args, lv=_lv: [lv.command(_one_number(args))]))
    ROUTES.append((f"/{_lv.name}/fader", lambda ctx, args, lv=_lv: [lv.command(lv.from_fader(_fader(args)))]))
ROUTES = [(re.compile(re.escape(PREFIX) + pattern.replace("{n}", r"(?P<n>\d{1,5})")
                      .replace("{name}", r"(?P<name>[a-z]{1,16})")), handler) for pattern, handler in ROUTES]


def translate(address, args, ctx=Context()):
    """The Commands one OSC message stands for; Rejected (or CommandError) if it stands for nothing."""
    for pattern, handler in ROUTES:
        match = pattern.fullmatch(address)
        if match:
            return handler(ctx, list(args), **match.groupdict())
    raise Rejected("unknown address")


# --- feedback: state -> messages ----------------------------------------------------------------

def state_messages(snapshot):
    """The messages that put a controller's faders and buttons where the show is."""
    out = []
    for level in LEVELS:
        if level.name in snapshot:
            value = float(snapshot[level.name])
            out += [(f"{PREFIX}/{level.name}", (value,)), (f"{PREFIX}/{level.name}/fader", (level.to_fader(value),))]
    if "mode" in snapshot:
        out.append((f"{PREFIX}/mode", (str(snapshot["mode"]),)))
        out += [(f"{PREFIX}/mode/{mode}", (float(mode == snapshot["mode"]),)) for mode in MODES]
    if "paused" in snapshot:
        out.append((f"{PREFIX}/pause", (float(bool(snapshot["paused"])),)))
    if "captions" in snapshot:
        out.append((f"{PREFIX}/captions", (float(bool(snapshot["captions"])),)))
    if snapshot.get("model") is not None:
        out.append((f"{PREFIX}/model", (str(snapshot["model"]),)))
    return out


STATUS_KEYS = ("fps", "mode", "speed", "paused", "psi", "blackout", "model", "uptime", "frames")


def status_args(snapshot):
    """`/exhibit/status` reply: key, value pairs (floats, ints, strings), easy to `route` in Max."""
    args = []
    for key in STATUS_KEYS:
        value = snapshot.get(key)
        if isinstance(value, bool) or key == "paused":
            value = int(bool(value))
        elif key == "frames":
            value = int(value or 0)
        elif isinstance(value, (int, float)) and not isinstance(value, str):
            value = float(value) if math.isfinite(float(value)) else 0.0
        else:
            value = "" if value is None else str(value)
        args += [key, value]
    return args


# --- security and logging -------------------------------------------------------------------------

def parse_allow(cidrs, key="osc.allow"):
    """CIDR strings -> networks; ValueError naming the key and the culprit."""
    if isinstance(cidrs, str) or not hasattr(cidrs, "__iter__"):
        raise ValueError(f"{key}: expected a list of CIDR strings like \"192.168.0.0/16\", got {cidrs!r}")
    networks = []
    for cidr in cidrs:
        try:
            networks.append(ipaddress.ip_network(str(cidr), strict=False))
        except ValueError:
            raise ValueError(f"{key}: {cidr!r} is not a network; use CIDRs like \"192.168.1.0/24\" or "
                             f"\"10.0.0.5/32\"") from None
    return networks


class Allowlist:
    """Is a sender's IP inside one of the allowed networks? Answers are cached: a flood asks often."""

    def __init__(self, networks):
        self.networks = list(networks)
        self._cache = {}

    def __call__(self, host):
        allowed = self._cache.get(host)
        if allowed is None:
            try:
                ip = ipaddress.ip_address(host.split("%")[0])
                if ip.version == 6 and ip.ipv4_mapped:      # a dual-stack socket sees IPv4 peers so
                    ip = ip.ipv4_mapped
                allowed = any(ip in net for net in self.networks)
            except ValueError:
                allowed = False
            if len(self._cache) > 4096:
                self._cache.clear()
            self._cache[host] = allowed
        return allowed


class RateLimitedLog:
    """One log line per kind of trouble every `interval` seconds, counting the lines held back."""

    def __init__(self, emit, interval=5.0):
        self.emit, self.interval = emit, interval
        self._last, self._held = {}, {}

    def warning(self, kind, message):
        now = time.monotonic()
        if now - self._last.get(kind, -math.inf) < self.interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        held = self._held.pop(kind, 0)
        self._last[kind] = now
        self.emit(message + (f" (and {held} more like it since the last report)" if held else ""))


# --- the receiver: its own process ----------------------------------------------------------------
# Why a process: every recvfrom releases and retakes the GIL, so under a flood of tens of thousands of
# datagrams a second a receiving thread inside the show would trade the GIL with the render thread tens of
# thousands of times a second, and its Python work would run in turns with the render thread's instead of
# beside it on the other core. In its own process (`python -m exhibit.osc`, started by OscServer) the
# receiver reads, checks and coalesces in parallel, and the show hears from it at most every FLUSH_SECONDS:
# one line of JSON with the Commands, which the show's side validates again as it rebuilds them. Measured
# with a flood of 30,000 messages a second: 2% of a core in the show's process this way, 9% with a thread.

FLUSH_SECONDS = 0.002
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
                    if not _pressed(args):
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
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # Ctrl+C is for the show, which then stops us in order

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


def _command(name, fields):
    """A Command rebuilt from the receiver's JSON, validated again by its constructor."""
    kind = getattr(commands, name, None)
    if not (isinstance(kind, type) and issubclass(kind, commands.Command)):
        raise CommandError(f"unknown command {name!r}")
    return kind(**fields)


# --- the server: in the show's process -----------------------------------------------------------------

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
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        self._process = subprocess.Popen([sys.executable, "-m", "exhibit.osc", json.dumps(self._options)],
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
    from exhibit.osc_bench import bench as run
    return run(app, seconds)


if __name__ == "__main__":      # the receiver process, started by OscServer
    sys.exit(receive(json.loads(sys.argv[1])))
