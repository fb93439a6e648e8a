"""The address map: (address, args) -> Commands. One table, ROUTES, lists every address under /exhibit;
handlers only check arguments and build Commands, which the show applies between frames."""
import math
import re
from dataclasses import dataclass
from pathlib import Path

from exhibit.commands import (
    MAX_BRIGHTNESS, MAX_PSI, MAX_SPEED, MODES, Identify, LoadModel, Pause, RecallScene, Reseed, ReseedTile, Resume,
    SaveScene, Screenshot, SetBlackout, SetBrightness, SetCaptions, SetMode, SetPsi, SetSpeed, StartWave,
    TestPattern)

PREFIX = "/exhibit"


class Rejected(ValueError):
    """A well-formed message whose address or arguments are not acceptable."""


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


def pressed(args):
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


def _switch(command, args):
    """No argument toggles; 0 or 1 (or a 0..1 toggle button, switching at 0.5, or T/F) turns it off or on."""
    _count(args, 0, 1)
    if not args:
        return [command()]
    if isinstance(args[0], bool):
        return [command(args[0])]
    value = _number(args)
    if not 0.0 <= value <= 1.0:
        raise Rejected(f"takes 0 or 1 (or a 0..1 toggle), or nothing to toggle, got {value:g}")
    return [command(value >= 0.5)]


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
    ("/pause", lambda ctx, args: [Pause()] if pressed(args) else [Resume()]),
    ("/resume", lambda ctx, args: [Resume()] if pressed(args) else []),
    ("/mode", lambda ctx, args: _mode(args)),
    ("/mode/{name}", lambda ctx, args, name: [SetMode(name)] if pressed(args) else []),
    ("/reseed", lambda ctx, args: [Reseed(_seed(args))]),
    ("/reseed/button", lambda ctx, args: [Reseed()] if pressed(args) else []),
    ("/tile/{n}/reseed", lambda ctx, args, n: [ReseedTile(_tile(ctx, n), _seed(args))]),
    ("/tile/{n}/reseed/button", lambda ctx, args, n: [ReseedTile(_tile(ctx, n))] if pressed(args) else []),
    ("/wave", _wave),
    ("/wave/xy", _wave_xy),
    ("/scene/save", lambda ctx, args: [SaveScene(_one_number(args))]),
    ("/scene/recall", lambda ctx, args: [RecallScene(_one_number(args))]),
    ("/scene/{n}/save", lambda ctx, args, n: [SaveScene(int(n))] if pressed(args) else []),
    ("/scene/{n}/recall", lambda ctx, args, n: [RecallScene(int(n))] if pressed(args) else []),
    ("/captions", lambda ctx, args: _captions(args)),
    ("/model", _model),
    ("/screenshot", lambda ctx, args: [Screenshot()] if pressed(args) else []),
    ("/identify", lambda ctx, args: _switch(Identify, args)),
    ("/testpattern", lambda ctx, args: _switch(TestPattern, args)),
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
