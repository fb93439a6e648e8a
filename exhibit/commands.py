"""The one vocabulary of the show: every input (OSC, keyboard, scenes, tests) becomes these Commands.

Each command is a frozen dataclass that validates its arguments when it is built, so a bad value is
rejected at the edge with a one-line `CommandError` and can never reach the show. Numbers are
normalised (ints and floats are interchangeable; bools are not numbers), so `SetSpeed(2) == SetSpeed(2.0)`.

Commands are applied between frames, on the show's thread, in the order they were queued. The live app
(exhibit/live.py) applies the ones that need the outside world (Screenshot, LoadModel, ToggleFullscreen,
SaveScene, RecallScene,
Identify, TestPattern); the Show (exhibit/show/state.py) applies the rest, Quit included: it fades out.

`CommandQueue` carries commands from any thread to the show loop. It never blocks the sender, keeps
only the newest commands when flooded, and coalesces continuous controls (a fader sending 1000 speeds
in a burst reaches the show as the last one).
"""
import math
import threading
from collections import deque
from dataclasses import dataclass, fields

MODES = ("drift", "wave", "unison", "hold")
MAX_SPEED = 8.0
MAX_PSI = 1.5
MAX_BRIGHTNESS = 2.0
MAX_SEED = 2**32 - 1
MAX_SLOT = 99
IDENTIFY_SECONDS = 10.0


class CommandError(ValueError):
    """A command argument with the wrong type, out of range or not finite. The message is one line."""


def _number(command, name, value, lo, hi):
    """A finite real number in [lo, hi], as float."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) and not hasattr(value, "__float__"):
        raise CommandError(f"{command}: {name} must be a number, got {type(value).__name__} {value!r}")
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        raise CommandError(f"{command}: {name} must be a number, got {value!r}") from None
    if not math.isfinite(value):
        raise CommandError(f"{command}: {name} must be finite, got {value!r}")
    if not lo <= value <= hi:
        raise CommandError(f"{command}: {name} must be in {lo:g}..{hi:g}, got {value:g}")
    return value


def _integer(command, name, value, lo, hi):
    """An integer in [lo, hi]. Integral floats (3.0, as OSC peers often send) are accepted."""
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) and not hasattr(value, "__index__"):
        raise CommandError(f"{command}: {name} must be an integer, got {type(value).__name__} {value!r}")
    value = int(value.__index__())
    if not lo <= value <= hi:
        raise CommandError(f"{command}: {name} must be in {lo}..{hi}, got {value}")
    return value


def _tiles(command, values):
    """A tuple of tile numbers, each an integer in 0..10000, from any iterable but a string."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise CommandError(f"{command}: tiles must be a list of tile numbers, got {values!r}")
    tiles = tuple(values)
    # Plain ints in range are checked in one pass: OSC rebuilds a group of 196 for every pattern message it hands
    # the show, and checking each tile alone took 0.7 ms a group.
    if tiles and all(type(t) is int for t in tiles) and 0 <= min(tiles) and max(tiles) <= 10_000:
        return tiles
    return tuple(_integer(command, "tile", t, 0, 10_000) for t in tiles)


def _seed(command, value):
    return None if value is None else _integer(command, "seed", value, 0, MAX_SEED)


class Command:
    """Base of all commands. `continuous` commands set a level; only the newest one in a burst matters."""
    continuous = False

    def supersedes(self, earlier):
        """True if applying `earlier` right before this one would make no difference to the show."""
        return False

    def _set(self, name, value):
        object.__setattr__(self, name, value)  # normalise a validated value on a frozen dataclass


@dataclass(frozen=True)
class Pause(Command):
    """Freeze the picture. Light (blackout, brightness) and overlays still respond."""


@dataclass(frozen=True)
class Resume(Command):
    """Continue after a pause."""


@dataclass(frozen=True)
class TogglePause(Command):
    """Pause if running, resume if paused."""


@dataclass(frozen=True)
class SetSpeed(Command):
    """How fast the tiles travel: 1 is the configured pace, 0 halts, MAX_SPEED is the cap."""
    multiplier: float
    continuous = True

    def __post_init__(self):
        self._set("multiplier", _number("SetSpeed", "multiplier", self.multiplier, 0.0, MAX_SPEED))


@dataclass(frozen=True)
class NudgeSpeed(Command):
    """Move the speed up (steps > 0) or down (steps < 0) a ladder of steps: for keys, which are relative."""
    steps: int

    def __post_init__(self):
        self._set("steps", _integer("NudgeSpeed", "steps", self.steps, -16, 16))


@dataclass(frozen=True)
class SetMode(Command):
    """How the tiles move together: drift (independently), wave, unison, hold (frozen)."""
    mode: str

    def __post_init__(self):
        if not isinstance(self.mode, str) or self.mode not in MODES:
            raise CommandError(f"SetMode: mode must be one of {', '.join(MODES)}, got {self.mode!r}")


@dataclass(frozen=True)
class CycleMode(Command):
    """Switch to the next mode in drift, wave, unison, hold order."""


@dataclass(frozen=True)
class Reseed(Command):
    """New latent paths for every tile. seed None picks a fresh one (the show logs which)."""
    seed: int | None = None

    def __post_init__(self):
        self._set("seed", _seed("Reseed", self.seed))


@dataclass(frozen=True)
class ReseedTile(Command):
    """A new latent path for one tile, row-major index. The show checks the index against its grid."""
    tile: int
    seed: int | None = None

    def __post_init__(self):
        self._set("tile", _integer("ReseedTile", "tile", self.tile, 0, 10_000))
        self._set("seed", _seed("ReseedTile", self.seed))


@dataclass(frozen=True)
class ReseedTiles(Command):
    """New latent paths for a group of tiles (a row, a column, an OSC address pattern), in one transition.
    seed None gives each tile a fresh seed; a seed gives each tile that seed, as ReseedTile would."""
    tiles: tuple
    seed: int | None = None

    def __post_init__(self):
        tiles = _tiles("ReseedTiles", self.tiles)
        if not 1 <= len(tiles) <= 10_000:
            raise CommandError(f"ReseedTiles: give 1 to 10000 tiles, got {len(tiles)}")
        self._set("tiles", tuple(dict.fromkeys(tiles)))
        self._set("seed", _seed("ReseedTiles", self.seed))

    def supersedes(self, earlier):
        """A group reseed right after another of the same tiles (a pattern sent again and again)."""
        return isinstance(earlier, ReseedTiles) and set(earlier.tiles) <= set(self.tiles)


@dataclass(frozen=True)
class HoldTile(Command):
    """Freeze one tile where it is (on) while the others move, or let it move again (off)."""
    tile: int
    on: bool = True

    def __post_init__(self):
        self._set("tile", _integer("HoldTile", "tile", self.tile, 0, 10_000))
        if not isinstance(self.on, bool):
            if isinstance(self.on, (int, float)) and self.on in (0, 1):
                self._set("on", bool(self.on))
            else:
                raise CommandError(f"HoldTile: on must be true/false or 0/1, got {self.on!r}")


@dataclass(frozen=True)
class SetHolds(Command):
    """Hold exactly these tiles (each frozen where it is now; held ones stay as they are) and let every other
    tile move again. SetHolds(()) releases them all. For scenes and the keyboard; OSC holds one tile at a time."""
    tiles: tuple = ()

    def __post_init__(self):
        tiles = _tiles("SetHolds", self.tiles)
        if len(tiles) > 10_000:
            raise CommandError(f"SetHolds: give at most 10000 tiles, got {len(tiles)}")
        self._set("tiles", tuple(sorted(set(tiles))))


def row_tiles(row, cols):
    """Row-major tile numbers of row `row` (0 is the top) in a grid `cols` tiles wide."""
    return tuple(range(row * cols, (row + 1) * cols))


def column_tiles(column, rows, cols):
    """Row-major tile numbers of column `column` (0 is the left) in a rows x cols grid."""
    return tuple(range(column, rows * cols, cols))


@dataclass(frozen=True)
class StartWave(Command):
    """Switch to wave mode with the wave spreading from the tile at (row, col)."""
    row: int
    col: int

    def __post_init__(self):
        self._set("row", _integer("StartWave", "row", self.row, 0, 1000))
        self._set("col", _integer("StartWave", "col", self.col, 0, 1000))


@dataclass(frozen=True)
class SetPsi(Command):
    """Truncation: 0 shows the average image, 1 the full variety, above 1 the unusual."""
    psi: float
    continuous = True

    def __post_init__(self):
        self._set("psi", _number("SetPsi", "psi", self.psi, 0.0, MAX_PSI))


@dataclass(frozen=True)
class SetBlackout(Command):
    """Fade toward black: 0 shows the work, 1 is fully black."""
    level: float
    continuous = True

    def __post_init__(self):
        self._set("level", _number("SetBlackout", "level", self.level, 0.0, 1.0))


@dataclass(frozen=True)
class ToggleBlackout(Command):
    """Blackout fully on if it is off, off otherwise."""


@dataclass(frozen=True)
class SetBrightness(Command):
    """Overall gain for the projector: 1 is neutral, 0 black, 2 twice as bright."""
    level: float
    continuous = True

    def __post_init__(self):
        self._set("level", _number("SetBrightness", "level", self.level, 0.0, MAX_BRIGHTNESS))


@dataclass(frozen=True)
class SaveScene(Command):
    """Store the current settings in a numbered slot."""
    slot: int

    def __post_init__(self):
        self._set("slot", _integer("SaveScene", "slot", self.slot, 0, MAX_SLOT))


@dataclass(frozen=True)
class RecallScene(Command):
    """Blend to the settings stored in a numbered slot."""
    slot: int

    def __post_init__(self):
        self._set("slot", _integer("RecallScene", "slot", self.slot, 0, MAX_SLOT))


@dataclass(frozen=True)
class SetCaptions(Command):
    """Show (True) or hide (False) the country name under each tile. 0 and 1 are accepted."""
    on: bool

    def __post_init__(self):
        if not isinstance(self.on, bool):
            if isinstance(self.on, (int, float)) and self.on in (0, 1):
                self._set("on", bool(self.on))
            else:
                raise CommandError(f"SetCaptions: on must be true/false or 0/1, got {self.on!r}")


@dataclass(frozen=True)
class ToggleCaptions(Command):
    """Captions on if off, off if on."""


@dataclass(frozen=True)
class ToggleStatus(Command):
    """The status overlay: fps, fresh tiles per second, mode, speed, model, uptime."""


@dataclass(frozen=True)
class ToggleHelp(Command):
    """The key bindings overlay."""


@dataclass(frozen=True)
class ToggleFullscreen(Command):
    """Between fullscreen and a window."""


def _switch(command, on):
    """None (toggle), or a bool; 0 and 1 are accepted as bools."""
    if on is None or isinstance(on, bool):
        return on
    if isinstance(on, (int, float)) and on in (0, 1):
        return bool(on)
    raise CommandError(f"{command}: on must be true/false, 0/1, or nothing (toggle), got {on!r}")


@dataclass(frozen=True)
class Identify(Command):
    """For IDENTIFY_SECONDS, this machine's name, network addresses, OSC port, version and model over the grid.
    on: True shows (again), False hides, None toggles."""
    on: bool | None = None

    def __post_init__(self):
        self._set("on", _switch("Identify", self.on))


@dataclass(frozen=True)
class TestPattern(Command):
    """A projector test pattern at the screen's native size, instead of the grid, until turned off.
    on: True shows, False hides, None toggles."""
    on: bool | None = None

    def __post_init__(self):
        self._set("on", _switch("TestPattern", self.on))


@dataclass(frozen=True)
class LoadModel(Command):
    """Switch to another generator file, by plain file name inside the configured models folder."""
    name: str

    def __post_init__(self):
        name = self.name
        if not isinstance(name, str) or not name.strip():
            raise CommandError(f"LoadModel: name must be a non-empty file name, got {name!r}")
        if "/" in name or "\\" in name or name.startswith(".") or "\0" in name or ":" in name or len(name) > 255:
            raise CommandError(f"LoadModel: name must be a plain file name inside the models folder, got {name!r}")


@dataclass(frozen=True)
class Screenshot(Command):
    """Save the current frame as a PNG in the configured screenshots folder."""


@dataclass(frozen=True)
class Quit(Command):
    """Fade out and end the show."""


def describe(command):
    """`SetSpeed(multiplier=2.0)` -> 'SetSpeed 2' — short form for logs and the status overlay."""
    values = " ".join(f"{getattr(command, f.name):g}" if isinstance(getattr(command, f.name), float)
                      else str(getattr(command, f.name)) for f in fields(command))
    return f"{type(command).__name__} {values}".strip()


class CommandQueue:
    """Bounded, thread-safe, non-blocking queue of Commands from any thread to the show loop.

    `put` never blocks, and a flood never makes it fail: when the queue is full the oldest command is dropped
    (the newest intent wins). It raises TypeError for anything that is not a Command (a programming error).
    A continuous command (SetSpeed, SetPsi, ...) replaces a pending one of the same kind in place, so a flood
    of fader moves costs one slot and the show applies only the latest value; but only within a run of
    continuous commands: any other command queued after it is a barrier, so `speed 3, scene recall 1, speed 4`
    ends at 4, as it arrived (levels of different kinds commute).
    """

    def __init__(self, maxsize=256):
        self.maxsize = maxsize
        self._items = deque()            # [command] cells, so a pending continuous command can be replaced
        self._pending = {}               # continuous command type -> its cell in _items
        self._lock = threading.Lock()
        self.dropped = 0                 # commands lost to a full queue, for the status overlay and logs
        self.coalesced = 0

    def put(self, command):
        """Queue a command. Returns False if it was merged into a pending one or pushed out an old one."""
        if not isinstance(command, Command):
            raise TypeError(f"CommandQueue.put expects a Command, got {type(command).__name__}")
        with self._lock:
            kind = type(command)
            if self._items and command.supersedes(self._items[-1][0]):
                self._items[-1][0] = command       # e.g. a group reseed sent again before the frame took it
                self.coalesced += 1
                return False
            if command.continuous and kind in self._pending:
                self._pending[kind][0] = command
                self.coalesced += 1
                return False
            cell = [command]
            self._items.append(cell)
            if command.continuous:
                self._pending[kind] = cell
            else:
                self._pending.clear()        # a barrier: later levels must not jump ahead of it
            if len(self._items) <= self.maxsize:
                return True
            old = self._items.popleft()
            if self._pending.get(type(old[0])) is old:
                del self._pending[type(old[0])]
            self.dropped += 1
            return False

    def drain(self):
        """All queued commands, oldest first, and an empty queue."""
        with self._lock:
            items, self._items, self._pending = self._items, deque(), {}
        return [cell[0] for cell in items]

    def __len__(self):
        with self._lock:
            return len(self._items)
