"""The address map: (address, args) -> Commands. One table, ROUTES, lists every address under /exhibit, with
what it takes and what it does; the router, the OSCQuery tree and the TouchOSC layout are all made from it.
Handlers only check arguments and build Commands, which the show applies between frames.

Address patterns (OSC 1.0, "OSC Message Dispatching and Pattern Matching"): an incoming address may contain
`?` (one character), `*` (any run of characters), `[abc]`, `[a-z]`, `[!0-9]` (one character in / not in a set),
`{foo,bar}` (one of the strings). Each part between slashes is matched against the parts of the show's address
space, so one message can reach many addresses: `/exhibit/tile/*/reseed` reseeds all tiles at once. The matcher
is written here by hand, never a regex built from the sender's text: a pattern is at most MAX_PATTERN characters
and matching one part costs O(len(pattern part) x len(address part)).
"""
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from exhibit.commands import (
    MAX_BRIGHTNESS, MAX_PSI, MAX_SLOT, MAX_SPEED, MODES, HoldTile, Identify, LoadModel, Pause, RecallScene,
    Reseed, ReseedTile, ReseedTiles, Resume, SaveScene, Screenshot, SetBlackout, SetBrightness, SetCaptions,
    SetHolds, SetMode, SetPsi, SetSpeed, StartWave, TestPattern, column_tiles, row_tiles)
from exhibit.config import SCHEMA
from exhibit.control.osc.packets import IMPULSE

PREFIX = "/exhibit"
MAX_PATTERN = 256                    # characters in an address pattern
WILDCARDS = frozenset("*?[]{}")
MATCH_CACHE = 256                    # distinct patterns whose matches are remembered


class Rejected(ValueError):
    """A well-formed message whose address or arguments are not acceptable. `kind` groups it in the logs."""

    def __init__(self, message, kind="bad argument"):
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class Level:
    """A continuous control. `/exhibit/<name> x` takes the value; `/exhibit/<name>/fader f` takes 0..1,
    mapped as top * f**curve, so that a plain fader covers the range with the neutral value in reach."""
    name: str
    command: type
    top: float
    curve: float = 1.0
    description: str = ""

    def from_fader(self, f):
        # 6 significant digits: fader 0.2 on psi is 0.3 in the show, its scenes and logs, not 0.30000000000000004
        return float(f"{self.top * f ** self.curve:.6g}")

    def to_fader(self, value):
        return min(1.0, max(0.0, value / self.top)) ** (1.0 / self.curve)


LEVELS = (
    Level("speed", SetSpeed, MAX_SPEED, curve=3.0, description="how fast the tiles travel: 1 the configured pace"),
    Level("psi", SetPsi, MAX_PSI, description="truncation psi: 0 the average image, 1 full variety"),
    Level("blackout", SetBlackout, 1.0, description="fade to black: 0 the work, 1 black"),
    Level("brightness", SetBrightness, MAX_BRIGHTNESS, description="overall gain: 1 neutral"),
)
# Addresses where only the newest message in a run matters (see CommandQueue).
CONTINUOUS = {f"{PREFIX}/{level.name}{form}".encode() for level in LEVELS for form in ("", "/fader")}
QUERIES = (f"{PREFIX}/ping", f"{PREFIX}/status")


@dataclass(frozen=True)
class Context:
    """What the address map needs to know about the show to check arguments."""
    rows: int = SCHEMA["grid"]["rows"].default
    cols: int = SCHEMA["grid"]["cols"].default
    models: Path | None = None


# --- arguments -----------------------------------------------------------------------------------------------

def _number(args, i=0):
    """An argument as a number. T/F count as 1/0 (OSC 1.1), doubles and int64 as numbers."""
    value = args[i]
    if isinstance(value, bool):
        return int(value)
    if not isinstance(value, (int, float)):
        shown = "impulse" if value is IMPULSE else f"{type(value).__name__} {value!r}"
        raise Rejected(f"argument {i + 1} must be a number, got {shown}")
    if not math.isfinite(value):
        raise Rejected(f"argument {i + 1} must be finite, got {value!r}")
    return value


def _count(args, lo, hi):
    if not lo <= len(args) <= hi:
        wanted = str(lo) if lo == hi else f"{lo} to {hi}"
        raise Rejected(f"takes {wanted} argument{'s' if hi != 1 else ''}, got {len(args)}")


def pressed(args):
    """Button form: no argument, an impulse or a non-zero one fires; 0 (a TouchOSC button's release) does not."""
    _count(args, 0, 1)
    if not args or args[0] is IMPULSE:
        return True
    return _number(args) != 0


def _fader(args):
    _count(args, 1, 1)
    value = _number(args)
    if not 0.0 <= value <= 1.0:
        raise Rejected(f"a fader value must be in 0..1, got {value:g}", "out-of-range fader")
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
        raise Rejected(f"tile must be in 0..{ctx.rows * ctx.cols - 1}, got {n}", "tile outside the grid")
    return n


def _index(n, size, what):
    n = int(n)
    if n >= size:
        raise Rejected(f"{what} must be in 0..{size - 1}, got {n}", f"{what} outside the grid")
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
    raise Rejected(f"no model file {name!r} in the models folder", "missing model")


def _toggle(args, what):
    _count(args, 1, 1)
    if args[0] is IMPULSE:
        raise Rejected(f"{what} takes 0 or 1 (or T/F), got an impulse")
    value = _number(args)
    if not 0.0 <= value <= 1.0:
        raise Rejected(f"{what} takes 0 or 1 (or a 0..1 toggle), got {value:g}")
    return value >= 0.5


def _switch(command, args):
    """No argument toggles; 0 or 1 (or a 0..1 toggle button, switching at 0.5, or T/F) turns it off or on."""
    _count(args, 0, 1)
    if not args or args[0] is IMPULSE:
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
        raise Rejected(f"x and y must be in 0..1, got {x:g} {y:g}", "out-of-range wave")
    return [StartWave(min(ctx.rows - 1, int(y * ctx.rows)), min(ctx.cols - 1, int(x * ctx.cols)))]


def _wave(ctx, args):
    _count(args, 2, 2)
    row, col = _number(args, 0), _number(args, 1)
    if not (0 <= row < ctx.rows and 0 <= col < ctx.cols):
        raise Rejected(f"row must be in 0..{ctx.rows - 1} and column in 0..{ctx.cols - 1}, got {row:g} {col:g}",
                       "out-of-range wave")
    return [StartWave(row, col)]


def _tiles(ctx, hits):
    return tuple(_tile(ctx, hit["tile"]) for hit in hits)


def _row(ctx, r):
    return row_tiles(_index(r, ctx.rows, "row"), ctx.cols)


def _column(ctx, c):
    return column_tiles(_index(c, ctx.cols, "column"), ctx.rows, ctx.cols)


# --- the table -----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Route:
    """One address (with placeholders {tile}, {row}, {column}, {slot}, {mode}) under PREFIX.

    types: the OSC type tags it takes ("" for a button: no argument, or 1 to press and 0 to release);
    range: (lo, hi) of its argument, or the values it accepts; value: the snapshot key its current value
    lives under, for OSCQuery and feedback ("held": 1 while the address's tile is in the held list)."""
    path: str
    handler: object                   # (ctx, args, **placeholders) -> [Command]
    types: str = ""
    range: tuple = ()
    description: str = ""
    value: str | None = None
    group: object = None              # (ctx, args, [placeholders...]) -> [Command], for a pattern's many hits


ROUTES = [
    Route("/ping", None, description="answers /exhibit/pong"),
    Route("/status", None, description="answers /exhibit/status with key, value pairs; then follows changes"),
    Route("/pause", lambda ctx, args: [Pause()] if pressed(args) else [Resume()], "i", (0, 1),
          "pause (1 or no argument) or resume (0)", "paused"),
    Route("/resume", lambda ctx, args: [Resume()] if pressed(args) else [], description="resume after a pause"),
    Route("/mode", lambda ctx, args: _mode(args), "s", MODES, "how the tiles move together", "mode"),
    Route("/mode/{mode}", lambda ctx, args, mode: [SetMode(mode)] if pressed(args) else [],
          description="switch to this mode (a button)"),
    Route("/reseed", lambda ctx, args: [Reseed(_seed(args))], "i", (0, 2**32 - 1),
          "new paths for every tile; an optional seed"),
    Route("/reseed/button", lambda ctx, args: [Reseed()] if pressed(args) else [],
          description="new paths for every tile (a button)"),
    Route("/tile/{tile}/reseed", lambda ctx, args, tile: [ReseedTile(_tile(ctx, tile), _seed(args))], "i",
          (0, 2**32 - 1), "a new path for one tile (row-major number); an optional seed",
          group=lambda ctx, args, hits: [ReseedTiles(_tiles(ctx, hits), _seed(args))]),
    Route("/tile/{tile}/reseed/button", lambda ctx, args, tile: [ReseedTile(_tile(ctx, tile))] if pressed(args)
          else [], description="a new path for one tile (a button)",
          group=lambda ctx, args, hits: [ReseedTiles(_tiles(ctx, hits))] if pressed(args) else []),
    Route("/tile/{tile}/hold", lambda ctx, args, tile: [HoldTile(_tile(ctx, tile), _toggle(args, "hold"))], "i",
          (0, 1), "1 freezes the tile where it is while the others move; 0 lets it go", "held"),
    Route("/hold/release", lambda ctx, args: [SetHolds()] if pressed(args) else [],
          description="let every held tile move again (a button)"),
    Route("/row/{row}/reseed", lambda ctx, args, row: [ReseedTiles(_row(ctx, row), _seed(args))], "i",
          (0, 2**32 - 1), "new paths for one row of tiles (0 is the top); an optional seed"),
    Route("/column/{column}/reseed", lambda ctx, args, column: [ReseedTiles(_column(ctx, column), _seed(args))],
          "i", (0, 2**32 - 1), "new paths for one column of tiles (0 is the left); an optional seed"),
    Route("/wave", _wave, "ii", ((0, 13), (0, 13)), "a wave from the tile at row, column"),
    Route("/wave/xy", _wave_xy, "ff", ((0.0, 1.0), (0.0, 1.0)), "a wave from the point x, y of an XY pad"),
    Route("/scene/save", lambda ctx, args: [SaveScene(_one_number(args))], "i", (0, MAX_SLOT),
          "store the look in a numbered slot"),
    Route("/scene/recall", lambda ctx, args: [RecallScene(_one_number(args))], "i", (0, MAX_SLOT),
          "blend to the look stored in a slot"),
    Route("/scene/{slot}/save", lambda ctx, args, slot: [SaveScene(int(slot))] if pressed(args) else [],
          description="store the look in this slot (a button)"),
    Route("/scene/{slot}/recall", lambda ctx, args, slot: [RecallScene(int(slot))] if pressed(args) else [],
          description="recall this slot (a button)"),
    Route("/captions", lambda ctx, args: [SetCaptions(_toggle(args, "captions"))], "i", (0, 1),
          "country names under the tiles: 1 on, 0 off", "captions"),
    Route("/model", _model, "s", (), "load a generator file from the models folder", "model"),
    Route("/screenshot", lambda ctx, args: [Screenshot()] if pressed(args) else [],
          description="save the frame on screen as a PNG"),
    Route("/identify", lambda ctx, args: _switch(Identify, args), "i", (0, 1),
          "the machine's name, addresses, ports, version and model over the grid for 10 s; no argument toggles"),
    Route("/testpattern", lambda ctx, args: _switch(TestPattern, args), "i", (0, 1),
          "a projector test pattern at the screen's native size (focus, keystone); no argument toggles"),
]
for _lv in LEVELS:
    ROUTES.append(Route(f"/{_lv.name}", lambda ctx, args, lv=_lv: [lv.command(_one_number(args))], "f",
                        (0.0, _lv.top), _lv.description, _lv.name))
    ROUTES.append(Route(f"/{_lv.name}/fader", lambda ctx, args, lv=_lv: [lv.command(lv.from_fader(_fader(args)))],
                        "f", (0.0, 1.0), f"{_lv.name} as a 0..1 fader", f"{_lv.name}/fader"))

# Placeholders: what a literal address may hold there (checked by the handler), and the values the address
# space has there (what a pattern is matched against).
_LITERAL = {"tile": r"\d{1,5}", "row": r"\d{1,5}", "column": r"\d{1,5}", "slot": r"\d{1,5}", "mode": r"[a-z]{1,16}"}


def _domain(name, ctx):
    return {"tile": range(ctx.rows * ctx.cols), "row": range(ctx.rows), "column": range(ctx.cols),
            "slot": range(MAX_SLOT + 1), "mode": MODES}[name]


_COMPILED = [(re.compile(re.escape(PREFIX) + re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m[1]}>{_LITERAL[m[1]]})",
                                                     re.escape(route.path))), route)
             for route in ROUTES if route.handler]


def is_pattern(address):
    return not WILDCARDS.isdisjoint(address)


def translate(address, args, ctx=Context()):
    """The Commands one OSC message stands for; Rejected (or CommandError) if it stands for nothing.
    An address pattern (see the module's docstring) stands for every address it matches."""
    args = _flatten(args)
    if is_pattern(address):
        return _dispatch(address, args, ctx)
    found = _route(address) if len(address) <= MAX_PATTERN else None    # no route is that long; none is kept
    if found is None:
        raise Rejected("unknown address", "unknown address")
    route, groups = found
    return route.handler(ctx, args, **groups)


@lru_cache(maxsize=4096)
def _route(address):
    """(route, placeholders) of a plain address, or None. Remembered: a controller sends the same few addresses
    again and again, and trying every route's expression costs a flood tens of microseconds a message."""
    for pattern, route in _COMPILED:
        match = pattern.fullmatch(address)
        if match:
            return route, match.groupdict()
    return None


def _flatten(args):
    """An OSC array stands for its elements where a handler takes several numbers: /exhibit/wave [2 5]."""
    if any(isinstance(a, list) for a in args):
        out = []
        for a in args:
            out.extend(_flatten(a) if isinstance(a, list) else [a])
        return out
    return list(args)


# --- address patterns ----------------------------------------------------------------------------------------

class Tree:
    """The address space as a tree of parts: every concrete address a pattern can reach."""

    def __init__(self, ctx):
        self.root = {}
        self._cache = {}
        for route in ROUTES:
            if route.handler is None:
                continue
            for parts, groups in _expand(route.path.strip("/").split("/"), ctx):
                node = self.root
                for part in [PREFIX.strip("/")] + parts:
                    node = node.setdefault(part, {})
                node[None] = (route, groups)        # a leaf: this address exists

    def match(self, pattern):
        """(route, placeholders) of every address the pattern matches, in address-table order. A controller
        repeats its patterns, so the latest MATCH_CACHE answers are kept."""
        hits = self._cache.get(pattern)
        if hits is None:
            hits = self._match(pattern)
            if len(self._cache) >= MATCH_CACHE:
                self._cache.pop(next(iter(self._cache)))
            self._cache[pattern] = hits
        return hits

    def _match(self, pattern):
        nodes = [self.root]
        for part in pattern.split("/")[1:]:
            tokens = compile_part(part)
            nxt = []
            for node in nodes:
                if tokens is None:                        # a plain part: one lookup
                    child = node.get(part)
                    if child is not None:
                        nxt.append(child)
                elif tokens == [("*",)]:                  # a lone star: every part
                    nxt.extend(child for name, child in node.items() if name is not None)
                else:
                    nxt.extend(child for name, child in node.items() if name is not None and match_part(tokens, name))
            nodes = nxt
            if not nodes:
                return []
        return [node[None] for node in nodes if None in node]


def _expand(parts, ctx):
    if not parts:
        yield [], {}
        return
    head, rest = parts[0], parts[1:]
    names = [head]
    key = None
    if head.startswith("{") and head.endswith("}"):
        key = head[1:-1]
        names = [str(v) for v in _domain(key, ctx)]
    for tail, groups in list(_expand(rest, ctx)):
        for name in names:
            yield [name] + tail, ({**groups, key: name} if key else groups)


@lru_cache(maxsize=8)
def tree(ctx):
    return Tree(ctx)


def compile_part(part):
    """One part of an address pattern -> tokens for match_part, or None if it has no wildcards.

    Tokens: ("c", char), ("?",), ("*",), ("[", negate, ((lo, hi), ...)), ("{", (alternatives...)).
    Rejected with kind 'malformed pattern' for an unclosed [ or {, or a stray ] or }."""
    if WILDCARDS.isdisjoint(part):
        return None
    tokens, i, n = [], 0, len(part)
    while i < n:
        ch = part[i]
        if ch == "*":
            if not tokens or tokens[-1] != ("*",):      # ** is *: keeps matching linear
                tokens.append(("*",))
        elif ch == "?":
            tokens.append(("?",))
        elif ch == "[":
            end = part.find("]", i + 1)
            if end < 0:
                raise Rejected("malformed address pattern: '[' is not closed", "malformed pattern")
            body = part[i + 1:end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            ranges, j = [], 0
            while j < len(body):
                if j + 2 < len(body) and body[j + 1] == "-":
                    lo, hi = sorted((body[j], body[j + 2]))
                    ranges.append((lo, hi))
                    j += 3
                else:
                    ranges.append((body[j], body[j]))
                    j += 1
            tokens.append(("[", negate, tuple(ranges)))
            i = end
        elif ch == "{":
            end = part.find("}", i + 1)
            if end < 0:
                raise Rejected("malformed address pattern: '{' is not closed", "malformed pattern")
            tokens.append(("{", tuple(part[i + 1:end].split(","))))
            i = end
        elif ch in "]}":
            raise Rejected(f"malformed address pattern: '{ch}' without its opening", "malformed pattern")
        else:
            tokens.append(("c", ch))
        i += 1
    return tokens


def match_part(tokens, name):
    """Does one address part match the tokens? Runs over the set of positions reachable in `name` (at most
    len(name) + 1), token by token: O(len(tokens) x len(name)), times the length of {a,b} alternatives."""
    positions = {0}
    n = len(name)
    for token in tokens:
        kind = token[0]
        if kind == "*":
            positions = set(range(min(positions), n + 1))
        elif kind == "c":
            positions = {p + 1 for p in positions if p < n and name[p] == token[1]}
        elif kind == "?":
            positions = {p + 1 for p in positions if p < n}
        elif kind == "[":
            _, negate, ranges = token
            positions = {p + 1 for p in positions
                         if p < n and any(lo <= name[p] <= hi for lo, hi in ranges) != negate}
        else:
            positions = {p + len(alt) for p in positions for alt in token[1] if name.startswith(alt, p)}
        if not positions:
            return False
    return n in positions


def _dispatch(pattern, args, ctx):
    """Every address a pattern matches, translated in address-table order; many hits of one route that has a
    group handler (a tile reseed) become one group Command: one transition for all the tiles."""
    if len(pattern) > MAX_PATTERN:
        raise Rejected(f"address pattern longer than {MAX_PATTERN} characters ({len(pattern)})", "malformed pattern")
    key = (pattern, repr(args), ctx)
    known = _TRANSLATED.get(key)
    if known is not None:               # Commands are immutable: a repeated pattern message reuses them
        return list(known)
    hits = tree(ctx).match(pattern)
    if not hits:
        raise Rejected("address pattern matches no address", "unmatched pattern")
    commands, i = [], 0
    while i < len(hits):
        route, groups = hits[i]
        j = i + 1
        while j < len(hits) and hits[j][0] is route:
            j += 1
        if route.group is not None and j - i > 1:
            commands.extend(route.group(ctx, args, [g for _, g in hits[i:j]]))
        else:
            for _, groups in hits[i:j]:
                commands.extend(route.handler(ctx, args, **groups))
        i = j
    if len(_TRANSLATED) >= MATCH_CACHE:
        _TRANSLATED.pop(next(iter(_TRANSLATED)))
    _TRANSLATED[key] = tuple(commands)
    return commands


_TRANSLATED = {}                     # (pattern, args, ctx) -> Commands, the latest MATCH_CACHE of them
