"""Who may speak, and how often trouble is told: the sender allowlist and a rate-limited log."""
import ipaddress
import math
import time

from exhibit.config import OSC_ALLOW as DEFAULT_ALLOW   # noqa: F401  (the osc package's name for it)


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
    """Trouble told without flooding the log: the first of each kind at once, then the rest counted by kind
    and summed up in one line every `interval` seconds ("12 more out-of-range psi, 3 unknown address")."""

    def __init__(self, emit, interval=5.0):
        self.emit, self.interval = emit, interval
        self._last = {}                # kind -> when a line of that kind was last written
        self._held = {}                # kind -> lines held back since the last summary
        self._summary = time.monotonic()

    def warning(self, kind, message):
        now = time.monotonic()
        if now - self._last.get(kind, -math.inf) < self.interval:
            self._held[kind] = self._held.get(kind, 0) + 1
            return
        if len(self._last) > 1024:
            self._last.clear()
        self._last[kind] = now
        self.emit(message)

    def summarize(self, prefix="OSC"):
        """Write the counts held back, at most once per interval. Call it often; it is cheap."""
        now = time.monotonic()
        if not self._held or now - self._summary < self.interval:
            return
        counts = sorted(self._held.items(), key=lambda kv: -kv[1])
        self.emit(f"{prefix}: since the last report, " +
                  ", ".join(f"{n} more {kind}" for kind, n in counts[:12]) +
                  (f" and {len(counts) - 12} other kinds" if len(counts) > 12 else ""))
        self._held.clear()
        self._summary = now
