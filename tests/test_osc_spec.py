"""OSC to the letter of the spec: replies where controllers listen, arrival order, every type tag, address
patterns; checked with real sockets on loopback and with liblo's oscsend/oscdump where installed."""
import json
import random
import shutil
import socket
import subprocess
import time

import pytest

from exhibit import commands as c
from exhibit.control import osc

from tests.test_osc import P, LiveShow, Peer, bundle, wait_for
from tests.owned import ends_with_us

LIBLO = shutil.which("oscsend") and shutil.which("oscdump")
needs_liblo = pytest.mark.skipif(not LIBLO, reason="liblo-tools (oscsend, oscdump) is not installed; .ci/run installs it")


@pytest.fixture
def listener():
    """A controller's receiving side: a plain UDP socket on the port it listens on, like TouchOSC's 9000."""
    p = Peer()
    yield p
    p.close()


@pytest.fixture
def show(listener, tmp_path):
    (tmp_path / "models").mkdir()
    with LiveShow(feedback_port=listener.port, context=osc.Context(14, 14, tmp_path / "models")) as live:
        yield live


# --- replies where controllers listen --------------------------------------------------------------------------

@pytest.mark.parametrize("address,args,reply", [
    (f"{P}/ping", (), f"{P}/pong"),
    (f"{P}/status", (), f"{P}/status"),
    (f"{P}/speed", (99.0,), f"{P}/error"),
    (f"{P}/nowhere", (), f"{P}/error"),
])
def test_replies_reach_the_feedback_port_and_the_source_port(show, listener, address, args, reply):
    sender = Peer()                      # sends from a throwaway port, as oscsend, Max's udpsend and TouchOSC do
    try:
        sender.send(show.server.port, address, *args)
        assert listener.expect(reply) is not None, f"no {reply} on the feedback port"
        assert sender.expect(reply) is not None, f"no {reply} on the source port"
    finally:
        sender.close()


def _ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback (::1)")
@pytest.mark.parametrize("bind,host", [("::", "127.0.0.1"), ("::", "::1"), ("::1", "::1")],
                         ids=["dual stack, IPv4 controller", "dual stack, IPv6 controller", "IPv6 only"])
def test_controllers_over_ipv6_get_replies_and_feedback(bind, host):
    """osc.bind = "::" listens on IPv6 and IPv4 at once. An IPv6 sender's address has four parts (host, port,
    flowinfo, scope id), which replies once mistook for a TCP connection's tag and sent nowhere."""
    listener = Peer(host)
    with LiveShow(bind=bind, feedback_port=listener.port) as live:
        sender = Peer(host)
        try:
            sender.send(live.server.port, f"{P}/ping")
            assert sender.expect(f"{P}/pong") == [], "no pong on the source port"
            assert listener.expect(f"{P}/pong") == [], "no pong on the feedback port"
            sender.send(live.server.port, f"{P}/speed", 3.0)
            assert listener.expect(f"{P}/speed", where=lambda args: args == [3.0]) is not None, "no feedback"
        finally:
            sender.close()
            listener.close()


def test_a_new_controller_gets_the_state_once_after_its_own_message(show, listener):
    """The first message from a new controller is a fader move: the state it gets carries the new value and
    comes once, never the old value first (a fader being moved would jump back)."""
    sender = Peer()
    try:
        sender.send(show.server.port, f"{P}/psi/fader", 0.2)
        assert listener.expect(f"{P}/model") is not None          # the last of the state messages
        time.sleep(0.3)
        listener.expect(f"{P}/never", timeout=0.2)
        psi = [args for address, args in listener.heard if address == f"{P}/psi"]
        assert psi == [[pytest.approx(0.3)]], psi                  # fader 0.2 -> psi 0.3, sent once
        assert [a for a, _ in listener.heard].count(f"{P}/mode") == 1
        listener.heard.clear()
        sender.send(show.server.port, f"{P}/speed", 2)
        assert listener.expect(f"{P}/speed") == [2.0]
        listener.expect(f"{P}/never", timeout=0.2)
        assert {a for a, _ in listener.heard} <= {f"{P}/speed", f"{P}/speed/fader"}, "after that only changes"
    finally:
        sender.close()


def test_values_go_out_as_the_user_sent_them(show, listener):
    listener.send(show.server.port, f"{P}/psi", 0.3)
    assert wait_for(lambda: show.snapshot()["psi"] == 0.3), show.snapshot()["psi"]   # not 0.30000001192092896
    assert listener.expect(f"{P}/psi", where=lambda a: a == [0.3]) is not None


@needs_liblo
def test_oscsend_and_oscdump(show, listener):
    """liblo, a client written independently of this project: oscsend's symbol and true types act, and the
    pong reaches oscdump listening on the feedback port."""
    listener.close()                                      # oscdump takes the feedback port
    dump = subprocess.Popen(["oscdump", "-L", str(show.server.feedback_port)], stdout=subprocess.PIPE, text=True,
                            preexec_fn=ends_with_us)
    try:
        time.sleep(0.3)
        port = str(show.server.port)
        subprocess.run(["oscsend", "localhost", port, f"{P}/mode", "S", "unison"], check=True, timeout=10)
        assert wait_for(lambda: show.snapshot()["mode"] == "unison"), "oscsend's S (symbol) was not accepted"
        subprocess.run(["oscsend", "localhost", port, f"{P}/captions", "T"], check=True, timeout=10)
        assert wait_for(lambda: show.snapshot()["captions"] is True)
        subprocess.run(["oscsend", "localhost", port, f"{P}/blackout", "d", "0.5"], check=True, timeout=10)
        assert wait_for(lambda: show.snapshot()["blackout"] == 0.5)
        subprocess.run(["oscsend", "localhost", port, f"{P}/ping"], check=True, timeout=10)
        time.sleep(0.5)
    finally:
        dump.terminate()
        out = dump.communicate(timeout=10)[0]
    assert f"{P}/pong" in out, out
    assert f"{P}/mode s \"unison\"" in out or f'{P}/mode s "unison"' in out or f"{P}/mode s unison" in out, out


# --- order ---------------------------------------------------------------------------------------------------

class ScenesShow(LiveShow):
    """LiveShow whose frames apply RecallScene as the app does: scene 1 holds speed 0.5."""

    def _run(self):
        while not self._stop.wait(1 / 120):
            changed = False
            with self.lock:
                self.frames += 1
                for command in self.queue.drain():
                    if isinstance(command, c.RecallScene):
                        command = c.SetSpeed(0.5)
                    changed |= self.show.apply(command)
            if changed:
                self.server.on_change(self.snapshot())


@pytest.mark.parametrize("as_bundle", [True, False], ids=["one bundle", "separate datagrams"])
def test_commands_apply_in_arrival_order(as_bundle):
    with ScenesShow(feedback_port=0) as live:
        sender = Peer()
        try:
            messages = [osc.encode(f"{P}/speed", 3.0), osc.encode(f"{P}/scene/recall", 1), osc.encode(f"{P}/speed", 4.0)]
            if as_bundle:
                sender.raw(live.server.port, bundle(1, *messages))
            else:
                for m in messages:
                    sender.raw(live.server.port, m)
            assert wait_for(lambda: live.server.counts["commands"] == 3)
            time.sleep(0.1)
            assert live.snapshot()["speed"] == 4.0
        finally:
            sender.close()


def test_the_queue_coalesces_only_runs_of_levels():
    q = c.CommandQueue()
    for command in (c.SetSpeed(3), c.SetPsi(0.5), c.SetSpeed(3.5), c.RecallScene(1), c.SetSpeed(4)):
        q.put(command)
    assert q.drain() == [c.SetSpeed(3.5), c.SetPsi(0.5), c.RecallScene(1), c.SetSpeed(4)]
    # a group reseed sent again before the show took the first: one is enough; anything between keeps both
    for command in (c.ReseedTiles((1, 2)), c.ReseedTiles((1, 2, 3)), c.SetSpeed(2), c.ReseedTiles((1, 2, 3))):
        q.put(command)
    assert q.drain() == [c.ReseedTiles((1, 2, 3)), c.SetSpeed(2), c.ReseedTiles((1, 2, 3))]


def test_a_group_reseed_gives_every_tile_a_path_of_its_own():
    from exhibit import config
    from exhibit.show.state import Show
    show = Show(config.load(), 64, seed=3)
    show.update(1.0)
    show.apply(c.ReseedTiles(tuple(range(196))))
    show.update(20.0)
    z = show.choreography.latents(show.time)
    assert len({row.tobytes() for row in z}) == 196


# --- argument types ------------------------------------------------------------------------------------------

def test_every_standard_type_tag_is_read():
    blob = osc.encode(f"{P}/x", 1, osc.Arg("f", 0.3), "s", osc.Arg("S", "sym"), b"\x01\x02", osc.Arg("h", 2**40),
                      osc.Arg("d", 0.1), osc.Arg("t", (1, 2)), osc.Arg("c", "q"), osc.Arg("r", (1, 2, 3, 4)),
                      osc.Arg("m", (0, 144, 60, 100)), True, False, None, osc.IMPULSE, [1, [2.5]])
    (address, args), = osc.parse(blob)
    assert args[:7] == [1, 0.3, "s", "sym", b"\x01\x02", 2**40, 0.1]
    assert tuple(args[7]) == (1, 2) and args[8] == "q" and tuple(args[9]) == (1, 2, 3, 4)
    assert tuple(args[10]) == (0, 144, 60, 100) and args[11:15] == [True, False, None, osc.IMPULSE]
    assert args[15] == [1, [2.5]]


@pytest.mark.parametrize("data,reason", [
    (b"/exhibit/speed\0\0,x\0\0\0\0\0\0", "unsupported argument type 'x'"),
    (b"/exhibit/speed\0\0,[i\0\0\0\0\1", "'[' without ']'"),
    (b"/exhibit/sp\0ed\0\0,f\0\0\0\0\0\0", "NUL inside the address"),
])
def test_what_is_not_osc_is_rejected_by_name(data, reason):
    with pytest.raises(osc.Malformed, match=reason.replace("[", r"\[")):
        osc.parse(data)


def test_send_types_true_false_and_explicit_tags(show, listener):
    from exhibit.control import send
    port = str(show.server.port)
    assert send.main([f"{P}/captions", "T", "--port", port, "--wait", "0"]) == 0
    assert wait_for(lambda: show.snapshot()["captions"] is True)
    assert send.main([f"{P}/speed", "f:3", "--port", port, "--wait", "0"]) == 0
    assert wait_for(lambda: show.snapshot()["speed"] == 3.0)
    assert send.main([f"{P}/mode", "s:hold", "--port", port, "--wait", "0"]) == 0
    assert wait_for(lambda: show.snapshot()["mode"] == "hold")
    assert send.main([f"{P}/reseed", "i:7", "--port", port, "--wait", "0"]) == 0
    assert wait_for(lambda: show.snapshot()["seed"] == 7)
    assert osc.parse(osc.encode("/a", *map(send.typed, ["i:3", "f:3", "s:3", "T", "F"]))) == \
        [("/a", [3, 3.0, "3", True, False])]


# --- address patterns ----------------------------------------------------------------------------------------

def tiles(address, *args):
    """The tiles an address pattern reseeds."""
    out = []
    for command in osc.translate(address, list(args)):
        out += list(command.tiles) if isinstance(command, c.ReseedTiles) else [command.tile]
    return out


@pytest.mark.parametrize("pattern,expected", [
    (f"{P}/tile/*/reseed", list(range(196))),                                  # *
    (f"{P}/tile/1?/reseed", list(range(10, 20))),                              # ?
    (f"{P}/tile/1[0-3]/reseed", [10, 11, 12, 13]),                             # [a-z] range
    (f"{P}/tile/1[05]/reseed", [10, 15]),                                      # [abc] set
    (f"{P}/tile/19[!0-2]/reseed", [193, 194, 195]),                            # [!...] negated
    (f"{P}/tile/{{7,42,195}}/reseed", [7, 42, 195]),                           # {a,b}
    (f"{P}/t*e/1*5/reseed", [15, 105, 115, 125, 135, 145, 155, 165, 175, 185, 195]),   # several parts
])
def test_each_wildcard_kind(pattern, expected):
    assert sorted(tiles(pattern)) == expected


def test_a_pattern_reaches_other_addresses_too():
    assert osc.translate(f"{P}/mode/{{wave,hold}}", []) == [c.SetMode("wave"), c.SetMode("hold")]
    assert osc.translate(f"{P}/[bp]*/fader", [0.5]) == [c.SetPsi(0.75), c.SetBlackout(0.5),
                                                                 c.SetBrightness(1.0)]
    assert osc.translate(f"{P}/row/1/reseed", [9]) == [c.ReseedTiles(tuple(range(14, 28)), 9)]
    assert osc.translate(f"{P}/column/2/reseed", []) == [c.ReseedTiles(tuple(range(2, 196, 14)))]
    assert osc.translate(f"{P}/tile/{{3,4}}/hold", [1]) == [c.HoldTile(3, True), c.HoldTile(4, True)]
    assert osc.translate(f"{P}/hold/release", []) == [c.SetHolds(())]
    assert osc.translate(f"{P}/hold/release", [0]) == [], "a push button's release does nothing"


@pytest.mark.parametrize("pattern,reason", [
    (f"{P}/tile/[12/reseed", "'\\[' is not closed"),
    (f"{P}/tile/{{1,2/reseed", "'{' is not closed"),
    (f"{P}/tile/1]/reseed", "without its opening"),
    (P + "/" + "*" * 10_000, "longer than 256"),
    (P + "/" + "*?" * 120 + "x", "matches no address"),
    (f"{P}/nothing/*", "matches no address"),
])
def test_malformed_patterns_get_a_bounded_answer(pattern, reason):
    start = time.perf_counter()
    with pytest.raises(osc.Rejected, match=reason):
        osc.translate(pattern, [])
    assert time.perf_counter() - start < 0.5


def test_the_matcher_is_linear_in_the_name():
    """A pattern of 250 stars and a letter that never matches, against a long name: no backtracking blow-up."""
    tokens = osc.compile_part("*" * 125 + "?" * 125 + "z")
    start = time.perf_counter()
    assert not osc.match_part(tokens, "a" * 300)
    assert time.perf_counter() - start < 0.5


def test_all_tiles_reseed_in_one_frame_over_the_network(show, listener):
    before = dict(show.show.choreography.spec.overrides)
    frames = show.frames
    listener.send(show.server.port, f"{P}/tile/*/reseed")
    assert wait_for(lambda: len(show.show.choreography.spec.overrides) == 196)
    assert before == {} and show.frames - frames < 60
    transitions = [tile for _, _, tile in show.show.choreography._stack if tile is not None]
    assert transitions[-1] == tuple(range(196)), "one transition for the whole group"


def test_an_unmatched_pattern_is_told_once_rate_limited(show, listener):
    for _ in range(20):
        listener.send(show.server.port, f"{P}/nothing/*")
    listener.expect(f"{P}/never", timeout=0.4)
    errors = [args for address, args in listener.heard if address == f"{P}/error"]
    assert len(errors) == 1 and "matches no address" in errors[0][0], errors


def test_hold_freezes_one_tile(show, listener):
    listener.send(show.server.port, f"{P}/tile/5/hold", 1)
    assert wait_for(lambda: show.snapshot()["held"] == [5])
    listener.send(show.server.port, f"{P}/tile/5/hold", 0)
    assert wait_for(lambda: show.snapshot()["held"] == [])


def test_a_hold_toggle_follows_the_show_and_is_not_resent_with_other_changes(show, listener):
    """A grid of hold toggles on a tablet lights the held tile; a fader moved afterwards sends the fader alone."""
    listener.send(show.server.port, f"{P}/psi", 0.5)
    assert listener.expect(f"{P}/psi", where=lambda a: a == [0.5]) is not None
    listener.send(show.server.port, f"{P}/tile/5/hold", 1)
    assert listener.expect(f"{P}/tile/5/hold", where=lambda a: a == [1.0]) is not None
    listener.heard.clear()
    listener.send(show.server.port, f"{P}/psi", 0.6)
    assert listener.expect(f"{P}/psi", where=lambda a: a == [0.6]) is not None
    listener.send(show.server.port, f"{P}/tile/5/hold", 0)
    assert listener.expect(f"{P}/tile/5/hold", where=lambda a: a == [0.0]) is not None
    resent = [address for address, _ in listener.heard if address.endswith("/hold")]
    assert resent == [f"{P}/tile/5/hold"], "only the tile that changed, once"


# --- OSC over TCP --------------------------------------------------------------------------------------------

def tcp_client(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def read_slip(sock, address, timeout=3.0):
    """Arguments of the next SLIP-framed message to `address` on a TCP connection, or None."""
    from exhibit.control.osc.tcp import unslip
    sock.settimeout(timeout)
    buffer = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return None
        if not data:
            return None
        buffer += data
        while b"\xc0" in buffer:
            frame, _, buffer = buffer.partition(b"\xc0")
            if frame:
                for got, args in osc.parse(unslip(frame)):
                    if got == address:
                        return args
    return None


def test_tcp_slip_same_address_space_replies_on_the_connection(show):
    from exhibit.control.osc.tcp import slip
    sock = tcp_client(show.server.port)
    try:
        sock.sendall(slip(osc.encode(f"{P}/ping")))
        assert read_slip(sock, f"{P}/pong") == []
        sock.sendall(slip(osc.encode(f"{P}/tile/1[0-3]/reseed", 5)) + slip(osc.encode(f"{P}/mode", "wave")))
        assert wait_for(lambda: show.snapshot()["mode"] == "wave")
        assert all(show.show.choreography.spec.overrides.get(t) == 5 for t in (10, 11, 12, 13))
        sock.sendall(slip(osc.encode(f"{P}/status")))
        status = read_slip(sock, f"{P}/status")
        assert status and status[status.index("mode") + 1] == "wave"
        sock.sendall(slip(osc.encode(f"{P}/speed", 99.0)))
        assert "must be in 0..8" in read_slip(sock, f"{P}/error")[0]
        # a payload holding the SLIP END and ESC bytes survives escaping
        sock.sendall(slip(osc.encode(f"{P}/reseed", 0xC0DBDDC0)))
        assert wait_for(lambda: show.snapshot()["seed"] == 0xC0DBDDC0)
    finally:
        sock.close()


def test_tcp_length_prefixed_osc_1_0(show):
    sock = tcp_client(show.server.port)
    try:
        ping = osc.encode(f"{P}/ping")
        sock.sendall(len(ping).to_bytes(4, "big") + ping)
        sock.settimeout(3)
        size = int.from_bytes(sock.recv(4), "big")
        assert osc.parse(sock.recv(size)) == [(f"{P}/pong", [])]
    finally:
        sock.close()


def udp_pong(port):
    p = Peer()
    try:
        p.send(port, f"{P}/ping")
        return p.expect(f"{P}/pong", timeout=1.0) == []
    finally:
        p.close()


def test_tcp_bounds(show):
    """A 1 GB length prefix and a frame without an end are closed with a reason; the show answers throughout."""
    port = show.server.port
    huge = tcp_client(port)
    huge.sendall((1 << 30).to_bytes(4, "big") + b"/exh")
    huge.settimeout(3)
    data = huge.recv(65536)
    assert b"length prefix of 1073741824" in data
    assert huge.recv(65536) == b"", "the connection is closed"
    endless = tcp_client(port)
    try:
        chunk = b"\xc0" + b"a" * 65536
        for _ in range(4):
            endless.sendall(chunk[:65536])
            chunk = b"a" * 65536
        endless.settimeout(3)
        assert b"without an end" in endless.recv(65536)
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        endless.close()
    assert udp_pong(port)


@pytest.mark.slow
def test_a_thousand_idle_tcp_connections_do_not_lock_out_a_controller(show):
    import resource
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 1100:
        pytest.skip(f"this test opens 1000 sockets; the open file limit is {soft}")
    from exhibit.control.osc import tcp
    from exhibit.control.osc.tcp import slip
    port = show.server.port
    idle = []
    try:
        for _ in range(1000):
            try:
                idle.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                pass
        assert udp_pong(port), "UDP still answers"
        time.sleep(tcp.EVICT_IDLE_SECONDS + 0.5)
        sock = tcp_client(port)                     # takes the place of the longest-idle one
        try:
            sock.sendall(slip(osc.encode(f"{P}/ping")))
            assert read_slip(sock, f"{P}/pong") == []
        finally:
            sock.close()
    finally:
        for s in idle:
            s.close()


# --- which tiles are held ----------------------------------------------------------------------------------------

def test_a_controller_sees_which_tiles_are_held(show, listener):
    """A grid of hold toggles follows the show: the full state a new controller gets has every tile's hold, and
    after that a hold or a release sends just the tiles that changed; OSCQuery has the same VALUE."""
    import json
    import urllib.request

    from exhibit.control.osc.query import QueryServer

    show.queue.put(c.HoldTile(17, True))             # held before this controller came (another one, a scene)
    assert wait_for(lambda: show.snapshot()["held"] == [17])
    sender = Peer()
    query = QueryServer(show.snapshot, bind="127.0.0.1", port=0, allow=["127.0.0.0/8"]).start()
    try:
        sender.send(show.server.port, f"{P}/tile/3/hold", 1)
        assert listener.expect(f"{P}/model") is not None          # the last of the state messages
        holds = {a: args for a, args in listener.heard if a.startswith(f"{P}/tile/")}
        assert len(holds) == 196, "every tile's hold, so buttons lit by an earlier session go dark"
        assert {a for a, args in holds.items() if args == [1.0]} == {f"{P}/tile/3/hold", f"{P}/tile/17/hold"}

        def value(tile):
            url = f"http://127.0.0.1:{query.port}{P}/tile/{tile}/hold?VALUE"
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.loads(response.read())["VALUE"]
        assert (value(3), value(17), value(4)) == ([1], [1], [0])
        root = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{query.port}/", timeout=5).read())
        assert osc.query.find(root, f"{P}/tile/17/hold")["ACCESS"] == 3, "readable and writable"

        listener.heard.clear()
        sender.send(show.server.port, f"{P}/tile/3/hold", 0)
        assert listener.expect(f"{P}/tile/3/hold") == [0.0]
        listener.expect(f"{P}/never", timeout=0.3)
        assert [a for a, _ in listener.heard if a.startswith(f"{P}/tile/")] == [f"{P}/tile/3/hold"], "only what changed"
        listener.heard.clear()
        sender.send(show.server.port, f"{P}/hold/release")
        assert listener.expect(f"{P}/tile/17/hold") == [0.0]
        assert value(17) == [0]
    finally:
        query.stop()
        sender.close()


def test_a_line_from_the_receiver_that_does_not_parse_costs_only_itself():
    """The show parses a frame's lines as one; a broken one (a receiver cut off as it ended) is skipped alone."""
    from exhibit.control.osc.server import _parsed
    good = [json.dumps({"commands": [["SetPsi", {"psi": v}, ["127.0.0.1", 9]]]}).encode() for v in (0.2, 0.4)]
    assert [m["commands"][0][1]["psi"] for m in _parsed([good[0], b'{"commands": [["Se', b"", good[1]])] == [0.2, 0.4]
    assert _parsed([]) == []


def test_the_show_rebuilds_only_what_its_queue_would_keep():
    """The show reads a frame's worth of the receiver's lines at once and skips the fader moves a later one
    replaces; what reaches its queue is exactly what rebuilding every one of them would have left there."""
    from exhibit.control.osc.server import _coalesced
    rng = random.Random(5)
    kinds = [lambda: c.SetSpeed(rng.choice([0.5, 1, 2, 3])), lambda: c.SetPsi(rng.choice([0.2, 0.7, 1.0])),
             lambda: c.SetBrightness(rng.choice([0.5, 1.0])), lambda: c.RecallScene(rng.randrange(1, 4)),
             lambda: c.ReseedTiles(tuple(rng.sample(range(196), rng.choice([1, 4, 196])))), c.Pause]
    sender = ["127.0.0.1", 9]
    for _ in range(300):
        sent = [rng.choice(kinds)() for _ in range(rng.randrange(1, 40))]
        every, fewer = c.CommandQueue(), c.CommandQueue()
        for command in sent:
            every.put(command)
        entries = [[type(k).__name__, {f: getattr(k, f) for f in k.__dataclass_fields__}, sender] for k in sent]
        survivors = _coalesced(entries)
        for name, fields, _ in survivors:
            fewer.put(getattr(c, name)(**fields))
        assert fewer.drain() == every.drain()
    # a flood of two faders around a group reseed: two moves on each side of it are rebuilt, not eighty
    flood = [["SetPsi", {"psi": i / 100}, sender] if i % 2 else ["SetSpeed", {"multiplier": 1 + i / 100}, sender]
             for i in range(40)]
    reseed = ["ReseedTiles", {"tiles": list(range(196)), "seed": None}, sender]
    kept = _coalesced(flood + [reseed] + flood)
    assert [e[0] for e in kept] == ["SetSpeed", "SetPsi", "ReseedTiles", "SetSpeed", "SetPsi"]
    assert kept[0][1] == kept[3][1] == {"multiplier": 1.38}, "the newest move of each run is the one kept"
