"""OSC over real UDP on loopback: every address reaches the show and its feedback comes back; bad input does not."""
import logging
import math
import os
import random
import signal
import socket
import struct
import threading
import time

import pytest

from exhibit import commands as c
from exhibit import config
from exhibit.control import osc
from exhibit.show.state import Show

P = osc.PREFIX


class Peer:
    """A controller on loopback: sends from its own port and reads what comes back to it."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        self.show = "::1" if ":" in host else "127.0.0.1"        # where it sends: the show on loopback
        self.sock.bind((host, 0))
        self.port = self.sock.getsockname()[1]
        self.heard = []

    def send(self, port, address, *args):
        self.sock.sendto(osc.encode(address, *args), (self.show, port))

    def raw(self, port, data):
        self.sock.sendto(data, (self.show, port))

    def expect(self, address, timeout=2.0, where=None):
        """Arguments of the next message to `address` (optionally satisfying `where`), or None on timeout.

        Messages to other addresses that arrive meanwhile are kept in `self.heard` (address, args)."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                data, _ = self.sock.recvfrom(65535)
            except socket.timeout:
                return None
            for got, args in osc.parse(data):
                self.heard.append((got, args))
                if got == address and (where is None or where(args)):
                    return args
        return None

    def flush(self):
        self.sock.setblocking(False)
        try:
            while True:
                self.sock.recv(65535)
        except BlockingIOError:
            pass
        self.sock.setblocking(True)

    def close(self):
        self.sock.close()


class LiveShow:
    """A real Show on its own thread, applying queued Commands between 'frames' at ~120 Hz like the app.

    Commands the app (not the Show) applies, such as LoadModel or Screenshot, are collected in `app_commands`.
    """

    def __init__(self, bind="127.0.0.1", **server_options):
        self.show = Show(config.load(), 64, seed=7)
        self.queue = c.CommandQueue()
        self.app_commands = []
        self.frames = 0
        self.lock = threading.Lock()
        self.server = osc.OscServer(self.queue, self.snapshot, bind=bind, port=0, **server_options)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def snapshot(self):
        with self.lock:
            return {**self.show.snapshot(), "frames": self.frames, "fps": 120.0, "model": "test.keras"}

    def _run(self):
        while not self._stop.wait(1 / 120):
            changed = False
            with self.lock:
                self.frames += 1
                for command in self.queue.drain():
                    try:
                        changed |= self.show.apply(command)
                    except TypeError:
                        self.app_commands.append(command)
            if changed:
                self.server.on_change(self.snapshot())

    def __enter__(self):
        self.server.start()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.server.stop()


@pytest.fixture
def peer():
    p = Peer()
    yield p
    p.close()


@pytest.fixture
def live(peer, tmp_path):
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "other.keras").write_bytes(b"not really a model, only its name matters here")
    with LiveShow(feedback_port=peer.port, context=osc.Context(14, 14, tmp_path / "models")) as show:
        peer.send(show.server.port, f"{P}/ping")
        assert peer.expect(f"{P}/speed") is not None, "a new controller receives the full state"
        assert peer.expect(f"{P}/model") == ["test.keras"]      # the last of the state messages
        peer.flush()
        yield show


def pong_within(peer, port, seconds=0.1, tries=3):
    """Does /exhibit/ping get its pong within `seconds`? A stuck server never answers; on a machine loaded
    with other work the receiver process may once miss its turn, so a few tries are allowed."""
    for _ in range(tries):
        peer.flush()
        start = time.monotonic()
        peer.send(port, f"{P}/ping")
        if peer.expect(f"{P}/pong", timeout=seconds) == [] and time.monotonic() - start < seconds:
            return True
    return False


def wait_for(predicate, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return False


# (address, args, snapshot key, expected value, feedback address, feedback value)
CHANGES = [
    (f"{P}/pause", (), "paused", True, f"{P}/pause", 1.0),
    (f"{P}/speed", (2,), "speed", 2.0, f"{P}/speed", 2.0),
    (f"{P}/speed", (0.25,), "speed", 0.25, f"{P}/speed", 0.25),
    (f"{P}/speed/fader", (0.25,), "speed", 0.125, f"{P}/speed/fader", 0.25),
    (f"{P}/speed/fader", (1.0,), "speed", 8.0, f"{P}/speed", 8.0),
    (f"{P}/mode", ("wave",), "mode", "wave", f"{P}/mode", "wave"),
    (f"{P}/mode/unison", (1.0,), "mode", "unison", f"{P}/mode/unison", 1.0),
    (f"{P}/mode/hold", (), "mode", "hold", f"{P}/mode", "hold"),
    (f"{P}/psi", (1,), "psi", 1.0, f"{P}/psi", 1.0),
    (f"{P}/psi/fader", (1.0,), "psi", 1.5, f"{P}/psi", 1.5),
    (f"{P}/blackout", (1,), "blackout", 1.0, f"{P}/blackout", 1.0),
    (f"{P}/blackout/fader", (0.5,), "blackout", 0.5, f"{P}/blackout/fader", 0.5),
    (f"{P}/brightness", (1.5,), "brightness", 1.5, f"{P}/brightness", 1.5),
    (f"{P}/brightness/fader", (0.25,), "brightness", 0.5, f"{P}/brightness/fader", 0.25),
    (f"{P}/captions", (1,), "captions", True, f"{P}/captions", 1.0),
    (f"{P}/captions", (True,), "captions", True, f"{P}/captions", 1.0),
    (f"{P}/blackout", (True,), "blackout", 1.0, f"{P}/blackout", 1.0),        # OSC 1.1 T: 1
    (f"{P}/mode", (osc.Arg("S", "unison"),), "mode", "unison", f"{P}/mode", "unison"),   # the symbol type
    (f"{P}/blackout", (osc.Arg("d", 0.25),), "blackout", 0.25, f"{P}/blackout", 0.25),  # a double
    (f"{P}/psi", (osc.Arg("h", 1),), "psi", 1.0, f"{P}/psi", 1.0),                     # an int64
    (f"{P}/wave", ([3, 4],), "wave", [3, 4], f"{P}/mode", "wave"),                       # an array
    (f"{P}/pause", (osc.IMPULSE,), "paused", True, f"{P}/pause", 1.0),                   # an impulse: a press
    (f"{P}/reseed", (12345,), "seed", 12345, None, None),
    (f"{P}/reseed", (77.0,), "seed", 77, None, None),
]


@pytest.mark.parametrize("address,args,key,value,fb_address,fb_value", CHANGES,
                         ids=[f"{a} {' '.join(map(str, x))}" for a, x, *_ in CHANGES])
def test_address_changes_state_and_feedback_arrives(live, peer, address, args, key, value, fb_address, fb_value):
    peer.send(live.server.port, address, *args)
    assert wait_for(lambda: live.snapshot()[key] == value), f"{address} {args} did not set {key} to {value!r}"
    if fb_address:
        got = peer.expect(fb_address)
        assert got is not None, f"no feedback on {fb_address}"
        assert got[0] == pytest.approx(fb_value) if isinstance(fb_value, float) else got[0] == fb_value


def test_resume_and_pause_zero(live, peer):
    """A TouchOSC toggle sends 1 then 0 to /exhibit/pause; a push button's release (0) on /resume does nothing."""
    port = live.server.port
    peer.send(port, f"{P}/pause", 1.0)
    assert wait_for(lambda: live.snapshot()["paused"])
    peer.send(port, f"{P}/pause", 0.0)
    assert wait_for(lambda: not live.snapshot()["paused"])
    peer.send(port, f"{P}/pause")
    assert wait_for(lambda: live.snapshot()["paused"])
    peer.send(port, f"{P}/resume", 0.0)
    time.sleep(0.1)
    assert live.snapshot()["paused"], "a button's release must not act"
    peer.send(port, f"{P}/resume")
    assert wait_for(lambda: not live.snapshot()["paused"])
    assert peer.expect(f"{P}/pause", where=lambda a: a == [0.0]) is not None


def test_tile_reseed_and_wave(live, peer):
    port = live.server.port
    peer.send(port, f"{P}/tile/195/reseed", 99)
    assert wait_for(lambda: live.show.choreography.spec.overrides.get(195) == 99)
    peer.send(port, f"{P}/tile/3/reseed/button", 1.0)
    assert wait_for(lambda: 3 in live.show.choreography.spec.overrides)
    peer.send(port, f"{P}/wave", 2, 5)
    assert wait_for(lambda: live.snapshot()["wave"] == [2, 5] and live.snapshot()["mode"] == "wave")
    peer.send(port, f"{P}/wave/xy", 0.99, 0.0)          # top right corner of an XY pad
    assert wait_for(lambda: live.snapshot()["wave"] == [0, 13])


def test_app_level_commands_are_queued(live, peer):
    """Scenes, screenshots and models are applied by the app; OSC only has to queue the right Commands."""
    port = live.server.port
    for address, args in [(f"{P}/scene/save", (3,)), (f"{P}/scene/recall", (3.0,)), (f"{P}/scene/4/recall", (1.0,)),
                          (f"{P}/scene/4/recall", (0.0,)), (f"{P}/screenshot", ()), (f"{P}/model", ("other.keras",))]:
        peer.send(port, address, *args)
    want = [c.SaveScene(3), c.RecallScene(3), c.RecallScene(4), c.Screenshot(), c.LoadModel("other.keras")]
    assert wait_for(lambda: live.app_commands == want), live.app_commands


def test_ping_and_status(live, peer):
    port = live.server.port
    assert wait_for(lambda: live.snapshot()["frames"] > 0)
    assert pong_within(peer, port, 0.1)
    peer.send(port, f"{P}/status")
    status = peer.expect(f"{P}/status")
    fields = dict(zip(status[::2], status[1::2]))
    assert set(fields) == {"fps", "mode", "speed", "paused", "psi", "blackout", "model", "uptime", "frames",
                           "schedule", "memory_mb", "generator_restarts", "osc_peer"}
    assert fields["mode"] == "drift" and fields["model"] == "test.keras" and fields["frames"] > 0, fields


def test_status_subscriber_follows_changes_made_elsewhere(live, peer):
    """A peer that asked for status hears about changes another controller makes, on the port it asked from."""
    tablet = Peer()
    try:
        port = live.server.port
        tablet.send(port, f"{P}/status")
        assert tablet.expect(f"{P}/status") is not None
        peer.send(port, f"{P}/speed", 3.0)
        assert tablet.expect(f"{P}/speed", where=lambda a: a == [3.0]) is not None
    finally:
        tablet.close()


def test_feedback_targets(peer):
    target = Peer()
    try:
        with LiveShow(feedback_port=0, feedback_targets=[f"127.0.0.1:{target.port}"]) as live:
            peer.send(live.server.port, f"{P}/psi", 0.3)
            assert target.expect(f"{P}/psi", where=lambda a: a[0] == pytest.approx(0.3)) is not None
            assert target.expect(f"{P}/psi/fader", where=lambda a: a[0] == pytest.approx(0.2)) is not None
    finally:
        target.close()


BAD = [
    (f"{P}/speed", ()), (f"{P}/speed", (9.0,)), (f"{P}/speed", (-1,)), (f"{P}/speed", (float("nan"),)),
    (f"{P}/speed", (float("inf"),)), (f"{P}/speed", ("fast",)), (f"{P}/speed", (1.0, 2.0)),
    (f"{P}/speed/fader", (1.5,)), (f"{P}/psi", (2.0,)), (f"{P}/psi/fader", (-0.1,)), (f"{P}/blackout", (1.01,)),
    (f"{P}/brightness", (3,)), (f"{P}/mode", ("spin",)), (f"{P}/mode", (1,)), (f"{P}/mode/spin", ()),
    (f"{P}/reseed", (-5,)), (f"{P}/reseed", (1.5,)), (f"{P}/reseed", (2**40,)), (f"{P}/tile/196/reseed", ()),
    (f"{P}/tile/-1/reseed", ()), (f"{P}/wave", (14, 0)), (f"{P}/wave", (1,)), (f"{P}/wave/xy", (1.2, 0.5)),
    (f"{P}/scene/save", (100,)), (f"{P}/scene/recall", ()), (f"{P}/captions", (0.3, 1)), (f"{P}/captions", (7,)),
    (f"{P}/captions", ("on",)), (f"{P}/pause", ("now",)), (f"{P}/screenshot", ("x.png",)),
    (f"{P}/model", ("missing.keras",)), (f"{P}/model", (3,)), (f"{P}/quit", ()), (f"{P}/speed/", (1.0,)),
    (f"{P}/SPEED", (1.0,)), ("/other/speed", (1.0,)), (f"{P}/ping", ("x",)),
]


def test_bad_arguments_are_rejected_and_logged_rate_limited(live, peer, caplog):
    before = live.snapshot()
    with caplog.at_level(logging.WARNING, logger="exhibit.control.osc"):
        for address, args in BAD * 3:
            peer.send(live.server.port, address, *args)
        # A run of moves of one fader keeps only its last (see test_order_...); the rest are each rejected.
        assert wait_for(lambda: live.server.counts["rejected"] + live.server.counts["superseded"] == 3 * len(BAD)), \
            live.server.counts
    time.sleep(0.1)
    after = live.snapshot()
    for key in ("speed", "psi", "blackout", "brightness", "mode", "seed", "captions", "paused", "wave"):
        assert after[key] == before[key], f"{key} changed by a rejected message"
    assert not live.app_commands
    lines = [r.getMessage() for r in caplog.records if r.name == "exhibit.control.osc"]
    # The first of each kind is logged with its own reason; the repeats are held back for the summary.
    assert len(lines) < 2 * len(BAD), lines
    assert any("(unknown address): unknown address" in line for line in lines), lines
    assert any("psi must be in 0..1.5, got 2" in line for line in lines), lines
    assert all("rejected" in line for line in lines)
    peer.expect(f"{P}/never", timeout=0.3)                  # collect what came back meanwhile
    errors = [args[0] for address, args in peer.heard if address == f"{P}/error"]
    assert 1 <= len(errors) <= 2, "the sender is told why, at most once a second"
    assert errors[0].startswith(f"{P}/") and ("must" in errors[0] or "takes" in errors[0]), errors
    assert pong_within(peer, live.server.port, 0.1)


def test_the_rate_limited_summary_counts_by_kind():
    lines = []
    log = osc.RateLimitedLog(lines.append, interval=0.05)
    for _ in range(13):
        log.warning("out-of-range psi", "psi 9: out of range")
    for _ in range(4):
        log.warning("unknown address", "unknown address /x")
    time.sleep(0.06)
    log.summarize()
    assert lines == ["psi 9: out of range", "unknown address /x",
                     "OSC: since the last report, 12 more out-of-range psi, 3 more unknown address"]


def bundle(timetag, *elements):
    return b"#bundle\0" + struct.pack(">Q", timetag) + b"".join(struct.pack(">i", len(e)) + e for e in elements)


def malformed_datagrams(rng, n):
    """Garbage of every kind an OSC port sees, plus near-misses of valid messages."""
    valid = [osc.encode(a, *x) for a, x, *_ in CHANGES] + [osc.encode(a, *x) for a, x in BAD]
    ping = osc.encode(f"{P}/ping")
    specials = [
        bundle(0, ping[:0]) + struct.pack(">i", -8) + ping,               # python-osc 1.10.2 loops forever here
        b"#bundle\0" + b"\0" * 8 + struct.pack(">i", -4),
        b"#bundle\0" + b"\0" * 8 + struct.pack(">i", 2**31 - 1) + ping,
        b"#bundle\0" + b"\0" * 7,                                           # truncated timetag
        bundle(0xFFFFFFFF_00000000, osc.encode(f"{P}/ping", "x")),          # far future, bad args
        bundle(1, bundle(1, bundle(1, bundle(1, bundle(1, ping))))),        # nested too deep
        bundle(0, *[ping] * 300),                                           # too many messages
        b"/exhibit/\xff\xfe\0\0,f\0\0\0\0\0\0",                            # non-UTF-8 address
        b"/exhibit/mode\0\0\0,s\0\0\xc3\x28\0\0",                          # non-UTF-8 string
        b"/exhibit/speed\0\0,b\0\0\xff\xff\xff\xf0",                        # blob with negative size
        b"/exhibit/speed\0\0,[[[\0", b"/exhibit/speed\0\0,]\0\0",
        b"/exhibit/speed\0\0,ffffffffffff\0\0\0\0",                          # tags without arguments
        b"", b"/", b"#", b"#bundle", b"\0" * 64, b"/exhibit/ping", b",f\0\0",
    ]
    out = list(specials)
    while len(out) < n:
        kind = rng.randrange(4)
        if kind == 0:
            out.append(rng.randbytes(rng.randrange(1, 200)))
        elif kind == 1:                                                       # truncated valid message
            msg = rng.choice(valid)
            out.append(msg[:rng.randrange(len(msg))])
        elif kind == 2:                                                       # bit-flipped valid message
            msg = bytearray(rng.choice(valid))
            for _ in range(rng.randrange(1, 4)):
                msg[rng.randrange(len(msg))] ^= 1 << rng.randrange(8)
            out.append(bytes(msg))
        else:                                                                 # bundle with a random size field
            msg = rng.choice(valid)
            size = rng.choice([-1, -2**31, 0, 3, len(msg) + 4, 2**31 - 1, rng.randrange(-2**31, 2**31)])
            out.append(b"#bundle\0" + rng.randbytes(8) + struct.pack(">i", size) + msg)
    return out


def test_parse_rejects_what_python_osc_cannot_survive():
    negative = b"#bundle\0" + b"\0" * 8 + struct.pack(">i", -8) + osc.encode(f"{P}/ping")
    start = time.monotonic()
    with pytest.raises(osc.Malformed, match="size -8"):
        osc.parse(negative)
    assert time.monotonic() - start < 0.01


def test_ten_thousand_malformed_datagrams_then_ping_answers(live, peer):
    rng = random.Random(4)
    datagrams = malformed_datagrams(rng, 12_000)
    port = live.server.port
    before = live.server.counts["received"]
    for i, data in enumerate(datagrams):
        peer.raw(port, data)
        if i % 100 == 99:   # at most 200 unread, well within RECEIVE_BUFFER: every datagram is read, none lost
            assert wait_for(lambda: live.server.counts["received"] - before >= i + 1 - 200, timeout=10), \
                f"the receiver stopped reading after {live.server.counts['received'] - before} datagrams"
    settled_at, last_count, start = time.monotonic(), -1, time.monotonic()
    while time.monotonic() - settled_at < 0.3 and time.monotonic() - start < 20:   # the receiver caught up
        if live.server.counts["received"] != last_count:
            settled_at, last_count = time.monotonic(), live.server.counts["received"]
        time.sleep(0.05)
    far_future = bundle(0xFFFFFFFF_00000000, osc.encode(f"{P}/speed", 5.0))   # the year 2036: acts on arrival
    peer.raw(port, far_future)
    assert wait_for(lambda: live.snapshot()["speed"] == 5.0, timeout=5), "a far-future bundle must not wait"
    assert pong_within(peer, port, 0.1), "no pong within 100 ms after the garbage"
    counts = live.server.counts
    assert counts["received"] - before >= len(datagrams), counts
    assert counts["malformed"] + counts["rejected"] > 9_000, counts
    assert live.server.alive()


def test_flood_is_coalesced_and_the_last_value_wins(live, peer):
    """Tens of thousands of fader moves per second: the queue stays bounded and the final value is applied."""
    port = live.server.port
    values = [i / 20_000 for i in range(20_000)]
    start = time.monotonic()
    for v in values:
        peer.send(port, f"{P}/psi/fader", v)
    rate = len(values) / (time.monotonic() - start)
    # UDP may drop datagrams when a flood fills the socket buffer (the kernel's choice, not ours), so the final
    # value goes out once the receiver has caught up, as a fader's last move does after the hand stops.
    settled_at, last_count = time.monotonic(), -1
    while time.monotonic() - settled_at < 0.3 and time.monotonic() - start < 20:
        count = live.server.counts["received"]
        if count != last_count:
            settled_at, last_count = time.monotonic(), count
        time.sleep(0.05)
    peer.send(port, f"{P}/psi/fader", 0.4)
    assert wait_for(lambda: live.snapshot()["psi"] == pytest.approx(0.6), timeout=5)
    assert len(live.queue) <= live.queue.maxsize
    assert rate > 10_000, f"the test itself sent only {rate:.0f} messages/s"


def test_allowlist_drops_other_senders(peer, caplog):
    with caplog.at_level(logging.WARNING, logger="exhibit.control.osc"):
        with LiveShow(feedback_port=0, allow=["10.0.0.0/8", "127.0.0.2/32"]) as live:
            before = live.snapshot()["speed"]
            for _ in range(20):
                peer.send(live.server.port, f"{P}/speed", 4.0)
            peer.send(live.server.port, f"{P}/ping")
            assert peer.expect(f"{P}/pong", timeout=0.3) is None, "127.0.0.1 is not allowed, yet it got a reply"
            assert live.snapshot()["speed"] == before
            assert live.server.counts["denied"] >= 21
            friend = Peer("127.0.0.2")
            try:
                friend.send(live.server.port, f"{P}/ping")
                assert friend.expect(f"{P}/pong") == [], "127.0.0.2/32 is allowed"
            finally:
                friend.close()
    denied = [r.getMessage() for r in caplog.records if "not in osc.allow" in r.getMessage()]
    assert len(denied) == 1 and "127.0.0.1" in denied[0]


@pytest.mark.parametrize("name", ["../secret.keras", "..", "/etc/passwd", "models/other.keras", "..\\secret.keras",
                                  "sub/../other.keras", ".hidden.keras", "C:\\x.keras", "", "outside.keras"])
def test_model_path_traversal_is_rejected(live, peer, tmp_path, name):
    (tmp_path / "secret.keras").write_bytes(b"outside the models folder")
    (tmp_path / "models" / "outside.keras").symlink_to(tmp_path / "secret.keras")
    peer.send(live.server.port, f"{P}/model", name)
    assert wait_for(lambda: live.server.counts["rejected"] + live.server.counts["malformed"] >= 1)
    peer.send(live.server.port, f"{P}/ping")
    assert peer.expect(f"{P}/pong") == []
    time.sleep(0.05)                       # a few frames for the show to drain its queue
    assert live.app_commands == []


def test_fader_mapping_round_trips():
    for level in osc.LEVELS:
        for f in (0.0, 0.1, 0.5, 0.77, 1.0):
            assert level.to_fader(level.from_fader(f)) == pytest.approx(f)
    speed = {lv.name: lv for lv in osc.LEVELS}["speed"]
    assert speed.from_fader(0.5) == 1.0 and speed.from_fader(1.0) == c.MAX_SPEED
    assert math.isclose({lv.name: lv for lv in osc.LEVELS}["brightness"].from_fader(0.5), 1.0)


def test_bind_conflict_names_the_port():
    with LiveShow(feedback_port=0) as live:
        with pytest.raises(OSError, match=f"127.0.0.1:{live.server.port}.*--osc-port"):
            osc.OscServer(c.CommandQueue(), dict, bind="127.0.0.1", port=live.server.port)


@pytest.mark.skipif(not hasattr(socket, "SO_REUSEPORT"), reason="without SO_REUSEPORT (Windows) controllers share one socket")
def test_a_flooding_controller_cannot_crowd_out_another(live, peer):
    """Each controller has a queue of its own: one that floods while the receiver cannot read (stopped here, as a
    busy machine may leave it for a moment) overflows only its own, and the other's message is still there."""
    port = live.server.port
    flooder = Peer()
    try:
        flooder.send(port, f"{P}/ping")
        assert flooder.expect(f"{P}/pong") == []
        os.kill(live.server.pid, signal.SIGSTOP)
        try:
            for i in range(20_000):              # many times what a socket buffer holds
                flooder.send(port, f"{P}/psi/fader", (i % 100) / 100)
            peer.send(port, f"{P}/speed", 3)
        finally:
            os.kill(live.server.pid, signal.SIGCONT)
        assert wait_for(lambda: live.snapshot()["speed"] == 3.0, timeout=10), "the flood crowded the message out"
    finally:
        flooder.close()


def test_a_new_controller_keeps_its_order_as_it_moves_to_a_queue_of_its_own(monkeypatch):
    """A new controller's first datagrams wait in the shared socket; once it has its own queue its later ones wait
    there. The older ones, in the shared socket, take effect first however the reads fall."""
    from exhibit.control.osc import receiver
    monkeypatch.setattr(receiver, "MAX_BATCH", 16)        # the shared socket holds more than one batch
    sock = receiver.shared_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    flushed = []
    reader = receiver.Receiver(sock, flushed.append, osc.DEFAULT_ALLOW, osc.Context())
    sender = Peer()
    stopping = threading.Event()
    thread = threading.Thread(target=reader.run, args=(stopping,))
    try:
        for i in range(40):
            sender.send(port, f"{P}/speed", 1 + i / 100)        # 1.00 .. 1.39, all into the shared socket
        time.sleep(0.05)
        for data, source in reader._drain(sock):                # the first 16; the sender gets its own queue
            reader._handle(data, source)
        sender.send(port, f"{P}/speed", 2.0)                    # into the sender's own queue
        time.sleep(0.05)
        thread.start()
        speeds = lambda: [fields["multiplier"] for line in flushed for name, fields, _ in line["commands"]
                          if name == "SetSpeed"]
        assert wait_for(lambda: 2.0 in speeds())
        time.sleep(0.1)
        assert speeds() == sorted(speeds()) and speeds()[-1] == 2.0, speeds()
    finally:
        stopping.set()
        if thread.is_alive():
            thread.join(timeout=2)
        reader.close()
        sock.close()
        sender.close()


def test_a_quiet_controller_is_heard_before_the_next_batch_of_a_flood():
    """Each round reads the quieter controllers' queues first and sends what they asked for to the show before the
    next batch of a controller that floods: a tablet's message follows only the batch that was read before it
    spoke, even when the flooder's queue comes first."""
    from exhibit.control.osc import receiver
    sock = receiver.shared_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    flushed = []
    reader = receiver.Receiver(sock, flushed.append, osc.DEFAULT_ALLOW, osc.Context())
    flooder, tablet = Peer(), Peer()
    try:
        if not reader.queues:
            pytest.skip("no SO_REUSEPORT here: every controller shares one queue")
        flooder.send(port, f"{P}/speed", 1.0)          # the flooder speaks first: its queue comes first
        tablet.send(port, f"{P}/speed", 1.0)
        time.sleep(0.05)
        reader.round()
        assert len(reader.own) == 2, "each controller has a queue of its own"
        for i in range(300):                            # distinct tiles: one Command each, none superseded
            flooder.send(port, f"{P}/tile/{i % 196}/reseed")
        time.sleep(0.05)
        reader.round()                                  # one batch of the flood
        tablet.send(port, f"{P}/speed", 2.0)
        time.sleep(0.05)
        reader.round()
        order = [(name, fields, tuple(sender)[1]) for line in flushed for name, fields, sender in line["commands"]]
        heard = order.index(("SetSpeed", {"multiplier": 2.0}, tablet.port))
        flood_first = [o for o in order[:heard] if o[2] == flooder.port and o[0] == "ReseedTile"]
        assert len(flood_first) == receiver.PEER_BATCH, len(flood_first)
    finally:
        reader.close()
        sock.close()
        flooder.close()
        tablet.close()


def test_receiver_that_dies_is_started_again(live, peer):
    live.server._process.kill()
    assert wait_for(lambda: not live.server.alive())

    def pong():
        peer.send(live.server.port, f"{P}/ping")
        return peer.expect(f"{P}/pong", timeout=0.2) == []
    assert wait_for(pong, timeout=15), "the receiver was not started again"
    peer.send(live.server.port, f"{P}/speed", 3)
    assert wait_for(lambda: live.snapshot()["speed"] == 3.0)


def test_send_prints_the_reply(live, capsys):
    from exhibit.control import send
    assert send.main([f"{P}/ping", "--port", str(live.server.port)]) == 0
    assert capsys.readouterr().out.strip() == f"{P}/pong"
    assert send.main([f"{P}/speed", "-1", "--port", str(live.server.port)]) == 1    # negative: an argument ...
    assert capsys.readouterr().out.strip() == f"{P}/error {P}/speed -1: SetSpeed: multiplier must be in 0..8, got -1"
    assert send.main([f"{P}/mode", "wave", "--port", str(live.server.port), "--wait", "0"]) == 0
    assert wait_for(lambda: live.snapshot()["mode"] == "wave")
    assert wait_for(lambda: live.server.counts["rejected"] == 1)                       # the -1
    assert [send.typed(x) for x in ("3", "-2", "0.5", "1e3", "wave", "nan", "inf")] == [3, -2, 0.5, 1000.0, "wave",
                                                                                      "nan", "inf"]
