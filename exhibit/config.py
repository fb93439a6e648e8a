"""The exhibit's settings: one TOML file (`configs/exhibit.toml`), validated against a schema, then CLI overrides.

Every key lives in `SCHEMA` with its default, what it accepts and one line on what it does, so a typo or a bad
value stops the show before it opens with a message that names the key and what would have been allowed. The
sections `osc`, `keys` and `paths` serve live control; they are listed here so one file and one check cover all.
"""
import ipaddress
import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from exhibit.commands import MAX_BRIGHTNESS, MAX_PSI, MAX_SEED, MAX_SPEED, MODES
from exhibit.show.schedule import DAYS, Schedule, ScheduleError, parse_day, parse_restart
from model import bundled
from model.config_file import ConfigFileError, read_toml

DEFAULT_FILE = bundled.path("configs", "exhibit.toml")
APP_NAME = "permeation"          # the name of the show's data folder

# Defaults that code outside the config also needs (the OSC receiver, `send`, the keyboard) live here once.
OSC_PORT = 8000                  # TouchOSC's default outgoing port
OSC_FEEDBACK_PORT = 9000         # TouchOSC's default incoming port
OSC_QUERY_PORT = 8001            # OSCQuery over HTTP: the address space as JSON
# Loopback, private (RFC 1918), link-local and IPv6 unique-local networks: the gallery's own LAN.
OSC_ALLOW = ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
             "fc00::/7", "fe80::/10")
QUIT_POLICIES = ("press", "double", "off")   # press: Esc or Q quits; double: twice within a few seconds; off: never
DOUBLE_PRESS_SECONDS = 2.0


class ConfigError(ValueError):
    """A config file or override that cannot be used; the one-line message names the key."""


@dataclass(frozen=True)
class Key:
    """One setting: its default, a checker that returns the clean value or raises ConfigError, and its meaning."""
    default: object
    check: object
    doc: str


def boolean():
    def check(name, v):
        if not isinstance(v, bool):
            raise ConfigError(f"{name} = {v!r}: allowed values: true, false")
        return v
    return check


def number(lo, hi, integer=False):
    def check(name, v):
        kind = "an integer" if integer else "a number"
        if isinstance(v, bool) or not isinstance(v, (int, float)) or integer and not isinstance(v, int):
            raise ConfigError(f"{name} = {v!r}: must be {kind} in {lo}..{hi}")
        if not math.isfinite(v) or not lo <= v <= hi:
            raise ConfigError(f"{name} = {v!r}: allowed values: {kind} in {lo}..{hi}")
        return v if integer else float(v)
    return check


def choice(*allowed):
    def check(name, v):
        if v not in allowed:
            raise ConfigError(f"{name} = {v!r}: allowed values: {', '.join(map(str, allowed))}")
        return v
    return check


def text(pattern=None, what="a string"):
    def check(name, v):
        if not isinstance(v, str) or pattern and not re.fullmatch(pattern, v):
            raise ConfigError(f"{name} = {v!r}: allowed values: {what}")
        return v
    return check


def schedule_entry(parse):
    """A [schedule] value, checked by exhibit/show/schedule.py; kept as written (the Schedule is built from it)."""
    def check(name, v):
        try:
            parse(v)
        except ScheduleError as error:
            raise ConfigError(f"{name} = {v!r}: {error}") from None
        return v
    return check


def seed():
    def check(name, v):
        if v == "random":
            return v
        if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= MAX_SEED:
            raise ConfigError(f"{name} = {v!r}: allowed values: \"random\" or an integer in 0..{MAX_SEED}")
        return v
    return check


def color():
    def check(name, v):
        if not isinstance(v, str) or not re.fullmatch(r"#[0-9a-fA-F]{6}", v):
            raise ConfigError(f"{name} = {v!r}: allowed values: a colour as \"#rrggbb\"")
        return tuple(int(v[i:i + 2], 16) for i in (1, 3, 5))
    return check


def size():
    def check(name, v):
        if (not isinstance(v, list) or len(v) != 2 or any(isinstance(x, bool) or not isinstance(x, int) for x in v)
                or not all(16 <= x <= 16384 for x in v)):
            raise ConfigError(f"{name} = {v!r}: allowed values: [width, height] in pixels, each 16..16384")
        return tuple(v)
    return check


def networks():
    def check(name, v):
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise ConfigError(f"{name} = {v!r}: allowed values: a list of networks like \"192.168.0.0/16\"")
        for x in v:
            try:
                ipaddress.ip_network(x, strict=False)
            except ValueError:
                raise ConfigError(f"{name}: {x!r} is not a network; allowed values: CIDRs like "
                                  f"\"10.0.0.0/8\"") from None
        return tuple(v)
    return check


def targets():
    def check(name, v):
        if not isinstance(v, list) or not all(isinstance(x, str) and re.fullmatch(r"[^\s:]+:\d{1,5}", x) for x in v):
            raise ConfigError(f"{name} = {v!r}: allowed values: a list of \"host:port\" strings")
        return tuple(v)
    return check


SCHEMA = {
    "display": {
        "fullscreen": Key(True, boolean(), "fullscreen at the screen's native resolution; false opens a window"),
        "display": Key(0, number(0, 15, integer=True), "which screen to open on (0 is the primary)"),
        "window_size": Key([1280, 720], size(), "window size when not fullscreen, [width, height]"),
        "fps": Key(60, number(10, 240, integer=True), "frame rate to draw at (the cap; vsync may hold it lower)"),
        "vsync": Key(True, boolean(), "wait for the screen's refresh: no tearing"),
        "renderer": Key("auto", choice("auto", "gpu", "cpu"),
                        "auto: the GPU where the screen has a hardware renderer, else the CPU; or force one"),
    },
    "grid": {
        "rows": Key(14, number(1, 64, integer=True), "tiles per column"),
        "cols": Key(14, number(1, 64, integer=True), "tiles per row"),
        "gutter": Key(0.08, number(0.0, 1.0), "space between tiles, as a fraction of a tile's side"),
        "margin": Key(0.5, number(0.0, 8.0), "least space around the grid, as a fraction of a tile's side"),
        "background": Key("#0a0a0c", color(), "colour of gutters, margins and letterbox"),
    },
    "show": {
        "seed": Key("random", seed(), "\"random\" for a new show each start, or an integer to fix it"),
        "mode": Key("drift", choice(*MODES), "how tiles move together at start"),
        "keyframe_seconds": Key(10.0, number(0.5, 3600.0), "seconds from one latent keyframe to the next"),
        "speed": Key(1.0, number(0.0, MAX_SPEED), "multiplier on the pace; 0 halts"),
        "psi": Key(0.7, number(0.0, MAX_PSI), "truncation: lower is calmer and more typical, 1 is full variety"),
        "blend_seconds": Key(5.0, number(0.0, 120.0), "how long a mode change or reseed blends"),
        "wave_delay": Key(0.35, number(0.0, 10.0), "wave mode: seconds a change takes to travel one tile"),
        "unison_spread": Key(0.15, number(0.0, 1.0), "unison mode: how far (in keyframes) the edge lags the centre"),
        "brightness": Key(1.0, number(0.0, MAX_BRIGHTNESS), "overall gain: 1 neutral"),
        "captions": Key(False, boolean(), "country names under the tiles at start"),
        "status": Key(False, boolean(), "status overlay at start"),
        "fade_in": Key(3.0, number(0.0, 60.0), "seconds of fade from black at start"),
        "fade_out": Key(1.5, number(0.0, 60.0), "seconds of fade to black on quit"),
    },
    "schedule": {
        **{day: Key("open", schedule_entry(parse_day),
                    f"{day.capitalize()}'s opening hours: \"open\" (all day), \"closed\", or \"10:00-18:00\" "
                    f"(several: \"10:00-13:00, 14:00-18:00\")") for day in DAYS},
        "restart": Key("", schedule_entry(parse_restart),
                       "a time like \"04:00\": the show ends once a day for its service manager to start it afresh"),
    },
    "model": {
        "path": Key("", text(), "generator file; empty: the bundled one in assets/ that fits the tiles"),
    },
    "worker": {
        "batch": Key(49, number(1, 1024, integer=True), "tiles generated together; larger is faster per tile"),
        "threads": Key(0, number(0, 64, integer=True), "CPU threads for generation; 0 lets TensorFlow decide"),
    },
    "render": {
        "tile_rate": Key(8.0, number(0.1, 240.0),
                         "true frames per tile per second of show in a render; between them tiles crossfade"),
    },
    "osc": {
        "enabled": Key(True, boolean(), "listen for OSC"),
        "bind": Key("0.0.0.0", text(r"[0-9a-fA-F.:]+", "an IP address"), "address to listen on"),
        "port": Key(OSC_PORT, number(1, 65535, integer=True),
                    f"UDP and TCP port to listen on (TouchOSC sends to {OSC_PORT})"),
        "feedback_port": Key(OSC_FEEDBACK_PORT, number(0, 65535, integer=True),
                             f"port on the sender's host that state changes go back to "
                             f"(TouchOSC: {OSC_FEEDBACK_PORT}); 0: none"),
        "feedback_targets": Key([], targets(), "more \"host:port\" peers that receive every state change"),
        "advertise": Key(True, boolean(), "announce the show with zeroconf, so TouchOSC and others list it by name"),
        "query_port": Key(OSC_QUERY_PORT, number(0, 65535, integer=True),
                          "OSCQuery HTTP port: the address space as JSON (TouchDesigner, Chataigne); 0: off"),
        "allow": Key(list(OSC_ALLOW), networks(), "senders accepted (CIDRs); packets from elsewhere are dropped"),
    },
    "keys": {
        "quit": Key("press", choice(*QUIT_POLICIES),
                    f"Esc/Q: press quits; double: a second press within {DOUBLE_PRESS_SECONDS:g} s (kiosk); "
                    "off: the keyboard cannot quit"),
    },
    "paths": {
        "data": Key("", text(), "folder the show keeps its own files in; empty: the platform's data folder "
                                "(Linux ~/.local/share/permeation); the paths below are relative to it"),
        "models": Key("models", text(), "folder that /exhibit/model loads generator files from"),
        "screenshots": Key("screenshots", text(), "folder screenshots are written to"),
        "scenes": Key("scenes.json", text(), "file scenes are saved to and restored from"),
        "state": Key("state.json", text(), "file the show's state is kept in across restarts (--fresh ignores it)"),
    },
}


def data_folder():
    """The platform's folder for this user's application data: ~/.local/share/permeation (Linux, or
    $XDG_DATA_HOME/permeation), ~/Library/Application Support/permeation (macOS), %LOCALAPPDATA%\\permeation."""
    import platformdirs
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def _resolve_paths(paths):
    """paths.* as absolute paths: `data` (empty: the platform's data folder), the others relative to it."""
    data = Path(paths["data"]).expanduser().resolve() if paths["data"] else data_folder()
    paths["data"] = str(data)
    for key in ("models", "screenshots", "scenes", "state"):
        paths[key] = str(data / Path(paths[key]).expanduser())     # an absolute path stays as it is


def defaults():
    return {section: {name: key.default for name, key in keys.items()} for section, keys in SCHEMA.items()}


def _merge(raw, source):
    """Check every section and key of `raw` against SCHEMA; returns the checked values."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a table of sections")
    clean = {}
    for section, values in raw.items():
        if section not in SCHEMA:
            raise ConfigError(f"{source}: unknown section [{section}]; allowed sections: {', '.join(SCHEMA)}")
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of keys")
        for name, value in values.items():
            if name not in SCHEMA[section]:
                raise ConfigError(f"{source}: unknown key [{section}] {name}; allowed keys: "
                                  f"{', '.join(SCHEMA[section])}")
            clean.setdefault(section, {})[name] = SCHEMA[section][name].check(f"{source}: [{section}] {name}", value)
    return clean


def parse_override(text):
    """'show.mode=wave' -> ('show', 'mode', 'wave'); the value is read as TOML (numbers, true/false, strings)."""
    match = re.fullmatch(r"\s*(\w+)\.(\w+)\s*=\s*(.*)", text)
    if not match:
        raise ConfigError(f"--set {text!r}: expected section.key=value, e.g. --set show.mode=wave")
    section, name, value = match.groups()
    try:
        value = tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        value = value.strip()        # a bare word is a string: --set show.mode=wave
    return section, name, value


def load(path=None, overrides=None):
    """Defaults, then the file (the default file if it exists and no path is given), then overrides.

    overrides: {section: {key: value}} from command-line flags. Returns a namespace per section:
    `config.show.mode`. Raises ConfigError with a one-line message.
    """
    merged = {section: {name: key.check(f"[{section}] {name}", key.default) for name, key in keys.items()}
              for section, keys in SCHEMA.items()}
    if path is None and DEFAULT_FILE.exists():
        path = DEFAULT_FILE
    if path is not None:
        path = Path(path)
        try:
            raw = read_toml(path)         # UTF-8 with or without BOM, any line ending; else a one-line error
        except ConfigFileError as error:
            raise ConfigError(str(error)) from None
        for section, values in _merge(raw, path.name).items():
            merged[section].update(values)
    for section, values in _merge(overrides or {}, "command line").items():
        merged[section].update(values)
    _resolve_paths(merged["paths"])
    loaded = SimpleNamespace(**{section: SimpleNamespace(**values) for section, values in merged.items()},
                             source=str(path) if path else "built-in defaults")
    try:              # each day is checked alone above; the week as a whole (never open at all) here
        Schedule.from_config(loaded.schedule)
    except ScheduleError as error:
        raise ConfigError(f"{path.name if path else 'command line'}: [schedule] {error}") from None
    return loaded
