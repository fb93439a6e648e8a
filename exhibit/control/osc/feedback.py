"""Feedback: state -> messages, so that a controller's faders and buttons follow the show."""
import functools
import math

from exhibit.commands import MODES
from exhibit.control.osc.addresses import LEVELS, PREFIX


def state_messages(snapshot, tiles=0):
    """The messages that put a controller's faders and buttons where the show is: [(address, args)].
    tiles: how many tiles the grid has; each gets `/exhibit/tile/{n}/hold 1.0` (held) or 0.0, so a grid of
    hold toggles shows which tiles stand still."""
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
    if "held" in snapshot and tiles:
        held = set(snapshot["held"])
        out += [(address, (float(n in held),)) for n, address in enumerate(_hold_addresses(tiles))]
    if snapshot.get("model") is not None:
        out.append((f"{PREFIX}/model", (str(snapshot["model"]),)))
    return out


@functools.lru_cache(maxsize=4)
def _hold_addresses(tiles):
    """`/exhibit/tile/{n}/hold` for n in 0..tiles-1, made once: feedback goes out after every frame that changed."""
    return tuple(f"{PREFIX}/tile/{n}/hold" for n in range(tiles))


STATUS_KEYS = ("fps", "mode", "speed", "paused", "psi", "blackout", "model", "uptime", "frames", "schedule",
               "memory_mb", "generator_restarts", "osc_peer")
INT_KEYS = ("frames", "generator_restarts")        # sent as ints


def status_args(snapshot):
    """`/exhibit/status` reply: key, value pairs (floats, ints, strings), easy to `route` in Max."""
    args = []
    for key in STATUS_KEYS:
        value = snapshot.get(key)
        if isinstance(value, bool) or key == "paused":
            value = int(bool(value))
        elif key in INT_KEYS:
            value = int(value or 0)
        elif isinstance(value, (int, float)) and not isinstance(value, str):
            value = float(value) if math.isfinite(float(value)) else 0.0
        else:
            value = "" if value is None else str(value)
        args += [key, value]
    return args
