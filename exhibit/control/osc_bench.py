"""`python -m exhibit bench --osc`: OSC-to-screen latency, measured in frames, quiet and under a flood.

While the real live loop runs, a probe (a process of its own, as a tablet is a device of its own) sends
`/exhibit/brightness v` over UDP on loopback with a new v each time and notes when it sent; the bench counts the
frames presented by then and waits for the frame whose state carries v (the app reports every frame in which
Commands took effect, with its frame number, right after presenting it).
Latency in frames is that frame's number minus the frames on screen at sending: 1 is the very next frame.

The first half of the run is quiet. In the second half a separate process floods the same port with tens of
thousands of messages per second: fader moves (which the server coalesces), out-of-range values,
malformed packets and address patterns (`/exhibit/tile/*/reseed`, all 196 tiles, about PATTERN_RATE a
second), a mix a broken controller or a hostile peer could send. Probes go on through it. The reported p50
and p99 are the worse of the two halves; a probe that never reached the screen (dropped in a full socket
buffer) counts as never, so p99 is `inf` once more than one probe in a hundred is lost; each half's line also
counts the probes that took LATE frames or more. It also reports what
matching an address pattern costs per message, and the CPU the receiver, the show's process and the flood sender
had during the flood beside the machine's load average: a receiver that falls behind while using well under one
core was waiting for a CPU, not working.
"""
import argparse
import bisect
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from exhibit.children import die_with_parent
from exhibit.control import osc

FLOOD_RATE = 30_000            # messages per second the flood process aims for
PATTERN_RATE = 100             # of which address patterns that reach every tile
# A probe this many frames late misses the target (p99 2 frames). p99 of about 160 probes is the second worst one,
# so the count of late probes says more from run to run than the p99 alone.
LATE = 3
PROBE_TIMEOUT = 1.0            # seconds; a probe not seen on screen by then is lost, and never (inf) in the p99


def bench(app, seconds, presents):
    """Measure while `app` runs (call from a thread). `presents`: the time.perf_counter() of every frame's present
    so far, in order, appended by the show's loop as it goes. Prints detail lines; returns the p50/p99 frame
    latencies."""
    server = next((s for s in app.inputs if isinstance(s, osc.OscServer)), None)
    own = None
    if server is None:          # the configured port is taken or OSC is off: measure the same code on a free port
        own = server = osc.OscServer(app.queue, app.snapshot, bind="127.0.0.1", port=0, feedback_port=0)
        app.on_change.append(server.on_change)
        server.start()
    probe = Probe(app, server.port, presents)
    app.on_change.append(probe.on_change)
    try:
        half = seconds / 2
        quiet = probe.run(half)
        fps_quiet = probe.fps
        before = dict(server.counts)
        flood = subprocess.Popen([sys.executable, "-m", "exhibit.control.osc_bench", "flood", "--port", str(server.port),
                                  "--seconds", str(half + 1.0), "--rate", str(FLOOD_RATE)],
                                 stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": _root()})
        time.sleep(0.5)         # let the flood reach full rate before probing through it
        cpu_before, wall = _cpu(server.pid, flood.pid), time.perf_counter()
        flooded = probe.run(half)
        cpu = [(b - a) / (time.perf_counter() - wall) for a, b in zip(cpu_before, _cpu(server.pid, flood.pid))]
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        sent = flood.communicate(timeout=30)[0].strip()
        got = {k: server.counts[k] - before[k] for k in before}
    finally:
        probe.close()
        app.on_change.remove(probe.on_change)
        if own:
            app.on_change.remove(own.on_change)
            own.stop()
    for name, result in (("quiet", quiet), ("flood", flooded)):
        print(f"osc latency {name}: {result['n']} probes, p50 {result['p50']:.0f} frames, p99 {result['p99']:.0f} "
              f"frames, max {result['max']:.0f}, {result['late']} took {LATE} frames or more; "
              f"{result['ms_p50']:.1f} ms p50, {result['ms_p99']:.1f} ms p99 "
              f"(send to present); lost {result['lost']}; ping {result['ping_p50']:.1f} ms p50, "
              f"{result['ping_p99']:.1f} ms p99, {result['pings_lost']} of {result['pings']} unanswered")
    print(f"osc flood: {sent}; the server read {got['received']}, superseded {got['superseded']}, rejected "
          f"{got['rejected']}, dropped {got['malformed']} malformed; fps {fps_quiet:.1f} quiet, {probe.fps:.1f} flooded")
    print(f"cpu while flooded: receiver {cpu[0]:.0%} of a core, show's process {cpu[1]:.0%}, flood sender "
          f"{cpu[2]:.0%}; load average {load:.1f} on {os.cpu_count()} cores (a receiver that lags while under "
          f"one core is waiting for a CPU)")
    print(matching_cost())
    return {"osc_p50_frames": max(quiet["p50"], flooded["p50"]), "osc_p99_frames": max(quiet["p99"], flooded["p99"])}


def matching_cost(n=300):
    """Microseconds per message to translate an address pattern into Commands, in the receiver's code path:
    a repeated pattern (the usual case: its matches are remembered) and a fresh one every time."""
    from exhibit.control.osc import addresses
    ctx = osc.Context()
    cost = {}
    for name, pattern in (("all tiles", f"{osc.PREFIX}/tile/*/reseed"), ("4 tiles", f"{osc.PREFIX}/tile/1[0-3]/reseed"),
                          ("plain address", f"{osc.PREFIX}/tile/12/reseed")):
        osc.translate(pattern, [], ctx)
        start = time.perf_counter()
        for _ in range(n):
            osc.translate(pattern, [], ctx)
        repeated = (time.perf_counter() - start) / n * 1e6
        start = time.perf_counter()
        for i in range(n):          # a new pattern each time: nothing remembered
            addresses.tree(ctx)._match(pattern)
        fresh = (time.perf_counter() - start) / n * 1e6
        cost[name] = (repeated, fresh)
    return "osc pattern matching per message: " + "; ".join(
        f"{name} {r:.0f} us (match alone, not remembered: {f:.0f} us)" for name, (r, f) in cost.items())


class Probe:
    """Sends brightness values one at a time, from a process of its own, and finds the frame each first appears in.

    The sending and the pings happen in a separate process (`probe()` below), as on a tablet: a probe thread in
    the show's process would wait for Python's GIL, held by the render loop, both before it sends and before it
    reads a pong, and would charge that wait to the receiver. The send time is taken in that process just
    before the datagram goes; the frames on screen then are counted from the show's present times.
    """

    def __init__(self, app, port, presents):
        self.app, self.presents = app, presents
        self.process = subprocess.Popen([sys.executable, "-m", "exhibit.control.osc_bench", "probe",
                                         "--port", str(port)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        text=True, bufsize=1, env={**os.environ, "PYTHONPATH": _root()})
        self.wanted = None
        self.seen = threading.Event()
        self.effect = None
        self.fps = 0.0
        self.k = 0

    def close(self):
        self.process.stdin.close()          # the probe process's signal to end
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def _ask(self, line):
        self.process.stdin.write(line + "\n")
        answer = self.process.stdout.readline().strip()
        if not answer:
            raise RuntimeError("the probe process ended")
        return answer

    def on_change(self, snapshot):
        """On the show's thread, right after the frame is presented."""
        if self.wanted is not None and snapshot.get("brightness") == self.wanted:
            self.effect = (snapshot["frames"], self.app.presented_at)
            self.seen.set()

    def run(self, seconds):
        frames, ms, pings, lost = [], [], [], 0
        rng = random.Random(0)
        start, start_frames = time.perf_counter(), self.app.frames
        while time.perf_counter() - start < seconds:
            self.k = self.k % 200 + 1
            value = round(1.0 - self.k / 1000, 3)  # the show holds what was sent, as its shortest decimal
            self.seen.clear()
            self.wanted = value
            sent_at = float(self._ask(f"b {value}"))
            if self.seen.wait(PROBE_TIMEOUT):
                on_screen = bisect.bisect_right(self.presents, sent_at)     # frames presented before it was sent
                frames.append(self.effect[0] - on_screen)
                ms.append((self.effect[1] - sent_at) * 1000)
            else:                       # never on screen: it counts in the percentiles as never (inf)
                lost += 1
                frames.append(float("inf"))
                ms.append(float("inf"))
            self.wanted = None
            rtt = self._ask("p")
            pings.append(None if rtt == "none" else float(rtt))
            time.sleep(rng.uniform(0.02, 0.07))     # a random phase against the frame clock
        self.fps = (self.app.frames - start_frames) / (time.perf_counter() - start)
        if not frames:
            frames = ms = [float("inf")]
        answered = [p for p in pings if p is not None] or [float("nan")]
        def pct(values, q):     # a value that occurred ("higher"): no interpolating towards a lost probe's inf
            return float(np.percentile(values, q, method="higher"))
        return {"n": len(frames) - lost, "lost": lost, "p50": pct(frames, 50), "p99": pct(frames, 99),
                "late": sum(1 for f in frames if LATE <= f < float("inf")), "max": float(max(frames)),
                "ms_p50": pct(ms, 50), "ms_p99": pct(ms, 99),
                "ping_p50": float(np.percentile(answered, 50)), "ping_p99": float(np.percentile(answered, 99)),
                "pings": len(pings), "pings_lost": pings.count(None)}


def probe(port, host="127.0.0.1"):
    """The probe's process: one command a line on stdin, one answer a line on stdout, until stdin closes.
    `b VALUE`: sends /exhibit/brightness VALUE, answers the time.perf_counter() (seconds) just before sending.
    `p`: sends /exhibit/ping, answers the round trip in ms, or `none` if no pong came within PROBE_TIMEOUT."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, 0))
    pong = osc.encode(f"{osc.PREFIX}/pong")
    for line in sys.stdin:
        word, *rest = line.split()
        if word == "b":
            datagram = osc.encode(f"{osc.PREFIX}/brightness", float(rest[0]))
            sent = time.perf_counter()
            sock.sendto(datagram, (host, port))
            print(repr(sent), flush=True)
            continue
        sock.setblocking(False)
        try:
            while True:             # feedback the show sent since (the new brightness): not an answer to this ping
                sock.recv(65535)
        except BlockingIOError:
            pass
        sock.settimeout(PROBE_TIMEOUT)
        sent = time.perf_counter()
        sock.sendto(osc.encode(f"{osc.PREFIX}/ping"), (host, port))
        try:
            while sock.recv(65535) != pong:
                pass
            print(f"{(time.perf_counter() - sent) * 1000:.3f}", flush=True)
        except socket.timeout:
            print("none", flush=True)


def _cpu(receiver, sender):
    """CPU seconds so far of (receiver, this process, flood sender); nan where the system cannot say (not Linux)."""
    def seconds(pid):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")     # utime + stime, in ticks
        except (OSError, ValueError, IndexError):
            return float("nan")
    return seconds(receiver), time.process_time(), seconds(sender)


def _root():
    here = str(Path(__file__).resolve().parents[2])    # the folder that holds exhibit/
    return os.pathsep.join([here] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])


def flood(port, seconds, rate, host="127.0.0.1"):
    """Send a mix of fader moves, bad values and malformed packets at `rate` per second. Returns messages sent."""
    rng = random.Random(1)
    p = osc.PREFIX
    fader = [osc.encode(f"{p}/psi/fader", rng.random()) for _ in range(500)]
    fader += [osc.encode(f"{p}/speed/fader", rng.uniform(0.45, 0.55)) for _ in range(500)]
    bad = [osc.encode(f"{p}/psi", 9.0), osc.encode(f"{p}/speed", "fast"), osc.encode(f"{p}/tile/999/reseed"),
           b"#bundle\0" + bytes(8) + (-8).to_bytes(4, "big", signed=True) + osc.encode(f"{p}/ping"),
           b"#bundle\0" + (0xFFFFFFFF << 32).to_bytes(8, "big") + (12).to_bytes(4, "big") + b"/exhibit/psi",
           b"/exhibit/\xff\xfe\0\0,f\0\0\0\0\0\0"] + [rng.randbytes(rng.randrange(1, 120)) for _ in range(50)]
    mix = fader * 4 + bad * 20
    patterns = round(len(mix) * PATTERN_RATE / max(rate - PATTERN_RATE, 1))
    mix += [osc.encode(f"{p}/tile/*/reseed")] * patterns + [osc.encode(f"{p}/tile/1[0-3]/reseed")]
    rng.shuffle(mix)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent, start, chunk = 0, time.perf_counter(), 100
    while time.perf_counter() - start < seconds:
        for data in mix[sent % len(mix):sent % len(mix) + chunk]:
            try:
                sock.sendto(data, (host, port))
            except OSError:
                pass
            sent += 1
        ahead = sent / rate - (time.perf_counter() - start)
        if ahead > 0:
            time.sleep(ahead)
    return sent, time.perf_counter() - start


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m exhibit.control.osc_bench",
                                     description="The flood and the probe of `python -m exhibit bench --osc`.")
    parser.add_argument("mode", choices=["flood", "probe"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=FLOOD_RATE)
    args = parser.parse_args(argv)
    die_with_parent(os.getppid())       # a bench that dies takes its flood and its probe with it
    if args.mode == "probe":
        probe(args.port, args.host)
        return 0
    sent, elapsed = flood(args.port, args.seconds, args.rate, args.host)
    print(f"{sent} messages in {elapsed:.1f} s ({sent / elapsed:.0f}/s) from another process")
    return 0


if __name__ == "__main__":
    sys.exit(main())
