"""The state of the show, changed only by Commands, advanced only by the clock.

Two kinds of time run here. Show time (`time`) is where the tiles are on their paths: it advances at the current
speed and stops when paused, so a pause freezes the picture exactly. Wall time (seconds since start) drives what
must respond even when paused: light (blackout, brightness), the fades at start and end. Levels never jump: speed,
psi, blackout and brightness glide to their new values, so a fader or a key press never cuts the picture.
Every glide is solved exactly for the elapsed time, so the show is the same at 24, 60 or 144 fps.
"""
import logging
import math
import random

import numpy as np

from exhibit import commands as c
from exhibit.show.choreography import Choreography, derive

log = logging.getLogger("exhibit")

# The rungs a speed key steps along, ending at the vocabulary's cap.
SPEED_LADDER = tuple(s for s in (0.0, 0.125, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0) if s < c.MAX_SPEED) + (
    c.MAX_SPEED,)
SPEED_RAMP = 0.6         # seconds for the speed to reach a new value (a pause eases to a stop)
LIGHT_GLIDE = 0.2        # seconds (time constant) for blackout and brightness
PSI_RATE = 0.5           # psi units per second of show time


def glide(value, target, dt, tau):
    """Exponential approach of value to target over dt seconds: exact for any dt, so frame rate cannot matter."""
    if tau <= 0:
        return target
    return target + (value - target) * math.exp(-dt / tau)


class Show:
    """The show's state. `apply` a Command, `update` to a wall time, read `time`, levels and flags."""

    def __init__(self, settings, z_dim, seed):
        """settings: the config's [show] and [grid] values (the `show`/`grid` namespaces of config.load)."""
        show, grid = settings.show, settings.grid
        self.rows, self.cols = grid.rows, grid.cols
        self.fade_in, self.fade_out = show.fade_in, show.fade_out
        self.seed = seed
        self.choreography = Choreography(grid.rows, grid.cols, z_dim, seed, show.mode, show.keyframe_seconds,
                                         show.blend_seconds, show.wave_delay, show.unison_spread)
        self.wall = 0.0              # seconds since the show started (fades, light)
        self.time = 0.0              # show time: where the tiles are on their paths
        self.speed = show.speed      # the target speed; `speed_now` glides toward it
        self.speed_now = show.speed
        self._ramp = 1.0             # speed units per second while the speed moves to a new target
        self.paused = False
        self.psi = show.psi
        self.psi_now = show.psi
        self.blackout = 0.0
        self.blackout_now = 0.0
        self.brightness = show.brightness
        self.brightness_now = show.brightness
        self.captions = show.captions
        self.status = show.status
        self.help = False
        self.closed = False          # outside opening hours (exhibit/show/schedule.py): dark, time stands still
        self.closed_now = 0.0        # 0 open .. 1 fully closed: the fade between them
        self.quit_at = None          # wall time the fade out began
        self.reseeds = 0             # how many seeds were drawn, so a seedless Reseed is still deterministic

    @property
    def mode(self):
        return self.choreography.spec.mode

    # -- time ---------------------------------------------------------------------------------------------

    def update(self, wall):
        """Advance to wall time `wall` (seconds since start)."""
        dt = max(0.0, wall - self.wall)
        self.wall = wall
        # Closing fades out over fade_out and opening fades in over fade_in, linearly, like the start and the end.
        fade = self.fade_out if self.closed else self.fade_in
        step = dt / fade if fade > 0 else 1.0
        self.closed_now = min(1.0, self.closed_now + step) if self.closed else max(0.0, self.closed_now - step)
        if self.dark():
            return                   # closed: the picture is black, the tiles wait where they are for the opening
        # Show time is the integral of the speed, which ramps linearly to its target: solved exactly over dt.
        target, start = self.target_speed, self.speed_now
        reach = abs(target - start) / self._ramp            # seconds until the speed arrives
        if dt >= reach:
            end = target
            moved = (start + target) / 2 * reach + target * (dt - reach)
        else:
            end = start + math.copysign(self._ramp * dt, target - start)
            moved = (start + end) / 2 * dt
        time = self.time + moved
        self.speed_now = end
        self.psi_now = self.psi_at(time)
        self.time = time
        self.blackout_now = glide(self.blackout_now, self.blackout, dt, LIGHT_GLIDE)
        self.brightness_now = glide(self.brightness_now, self.brightness, dt, LIGHT_GLIDE)

    @property
    def target_speed(self):
        return 0.0 if self.paused else self.speed

    def psi_at(self, t):
        """Truncation at show time t >= now: moving toward the target at PSI_RATE per second of show time."""
        step = PSI_RATE * max(0.0, t - self.time)
        value = self.psi_now
        return min(self.psi, value + step) if self.psi >= value else max(self.psi, value - step)

    def light(self):
        """The picture's overall gain now: brightness, blackout and the fades at start and end, together."""
        fade = 1.0 if self.fade_in <= 0 else min(1.0, self.wall / self.fade_in)
        if self.quit_at is not None:
            fade *= 0.0 if self.fade_out <= 0 else max(0.0, 1.0 - (self.wall - self.quit_at) / self.fade_out)
        level = self.brightness_now * (1.0 - self.blackout_now) * (1.0 - self.closed_now) * fade
        return 0.0 if level < 1 / 512 else level

    def finished(self):
        """True once the fade out after Quit is complete."""
        return self.quit_at is not None and self.wall - self.quit_at >= self.fade_out

    def dark(self):
        """True while closed by the schedule and faded fully to black: nothing to draw, nothing to generate."""
        return self.closed and self.closed_now >= 1.0

    def set_open(self, is_open, at_once=False):
        """Opening hours began (True) or ended (False): fade in or out (at_once: no fade, e.g. a start at night).
        The show's own settings are untouched."""
        self.closed = not is_open
        if at_once:
            self.closed_now = 0.0 if is_open else 1.0

    def quit(self):
        if self.quit_at is None:
            self.quit_at = self.wall

    # -- commands -----------------------------------------------------------------------------------------

    def apply(self, command):
        """Apply one Command. Returns True if the state changed. Raises CommandError if it does not fit the grid."""
        t = self.time
        chor = self.choreography
        match command:
            case c.Pause():
                return self._set("paused", True)
            case c.Resume():
                return self._set("paused", False)
            case c.TogglePause():
                return self._set("paused", not self.paused)
            case c.SetSpeed(multiplier=m):
                return self._set("speed", m)
            case c.NudgeSpeed(steps=n):
                return self._set("speed", _nudge(self.speed, n))
            case c.SetMode(mode=m):
                if m == self.mode:
                    return False
                chor.change(t, mode=m, **({"wave_start": t} if m == "wave" else {}))
                return True
            case c.CycleMode():
                modes = c.MODES
                return self.apply(c.SetMode(modes[(modes.index(self.mode) + 1) % len(modes)]))
            case c.StartWave(row=r, col=col):
                if r >= self.rows or col >= self.cols:
                    raise c.CommandError(f"StartWave: ({r}, {col}) is outside the {self.rows}x{self.cols} grid")
                chor.change(t, mode="wave", source=(r, col), wave_start=t)
                return True
            case c.Reseed(seed=s):
                self.seed = self._fresh_seed() if s is None else s
                chor.change(t, seed=self.seed, overrides={})
                log.info("reseeded: seed %d", self.seed)
                return True
            case c.ReseedTile(tile=i, seed=s):
                if i >= self.rows * self.cols:
                    raise c.CommandError(f"ReseedTile: tile {i} is outside 0..{self.rows * self.cols - 1}")
                s = self._fresh_seed() if s is None else s
                chor.change(t, tile=i, overrides={**chor.spec.overrides, i: s})
                return True
            case c.ReseedTiles(tiles=tiles, seed=s):
                outside = [i for i in tiles if i >= self.rows * self.cols]
                if outside:
                    raise c.CommandError(f"ReseedTiles: tile {outside[0]} is outside 0..{self.rows * self.cols - 1}")
                # One seed for the group: each tile's path still differs, since its stream mixes in the tile.
                seeds = dict.fromkeys(tiles, self._fresh_seed() if s is None else s)
                chor.change(t, tile=tiles, overrides={**chor.spec.overrides, **seeds})
                return True
            case c.HoldTile(tile=i, on=on):
                if i >= self.rows * self.cols:
                    raise c.CommandError(f"HoldTile: tile {i} is outside 0..{self.rows * self.cols - 1}")
                return chor.hold_tile(t, i, on)
            case c.SetHolds(tiles=tiles):
                outside = [i for i in tiles if i >= self.rows * self.cols]
                if outside:
                    raise c.CommandError(f"SetHolds: tile {outside[0]} is outside 0..{self.rows * self.cols - 1}")
                return chor.hold_tiles(t, tiles)
            case c.SetPsi(psi=p):
                return self._set("psi", p)
            case c.SetBlackout(level=v):
                return self._set("blackout", v)
            case c.ToggleBlackout():
                return self._set("blackout", 0.0 if self.blackout > 0.5 else 1.0)
            case c.SetBrightness(level=v):
                return self._set("brightness", v)
            case c.SetCaptions(on=on):
                return self._set("captions", on)
            case c.ToggleCaptions():
                return self._set("captions", not self.captions)
            case c.ToggleStatus():
                return self._set("status", not self.status)
            case c.ToggleHelp():
                return self._set("help", not self.help)
            case c.Quit():
                self.quit()
                return True
        raise TypeError(f"the show does not apply {type(command).__name__}; the app does")

    def _set(self, name, value):
        if getattr(self, name) == value:
            return False
        setattr(self, name, value)
        if name in ("speed", "paused"):     # every speed change takes SPEED_RAMP seconds, large or small
            self._ramp = max(abs(self.target_speed - self.speed_now), 0.05) / SPEED_RAMP
        return True

    def _fresh_seed(self):
        """A new seed that depends only on the starting seed and how many came before: renders stay reproducible."""
        self.reseeds += 1
        return derive(self.seed, self.reseeds, 0x5EED) % (c.MAX_SEED + 1)

    def resume(self, saved):
        """Continue where a saved show was (a dict from exhibit/show/resume.py, already checked): the same walk at
        the same show time, with its speed, psi, brightness and captions, reached at once, not glided to."""
        self.seed, self.reseeds, self.time = saved["seed"], saved["reseeds"], float(saved["time"])
        self.choreography.resume(self.time, saved["mode"], saved["seed"],
                                 {int(tile): seed for tile, seed in saved["tiles"].items()},
                                 saved["wave"], float(saved["wave_start"]))
        self.speed = self.speed_now = float(saved["speed"])
        self.psi = self.psi_now = float(saved["psi"])
        self.brightness = self.brightness_now = float(saved["brightness"])
        self.captions = bool(saved["captions"])

    def snapshot(self):
        """The state as plain values, for feedback to controllers, scenes and the status overlay."""
        spec = self.choreography.spec
        return {"mode": self.mode, "speed": self.speed, "paused": self.paused, "psi": self.psi, "seed": self.seed,
                "blackout": self.blackout, "brightness": self.brightness, "captions": self.captions,
                "status": self.status, "help": self.help, "wave": list(spec.source),
                "held": sorted(spec.held),
                "time": round(self.time, 3), "uptime": round(self.wall, 3)}


def _nudge(speed, steps):
    """The speed `steps` rungs up or down the ladder from the rung nearest `speed`."""
    nearest = int(np.argmin([abs(s - speed) for s in SPEED_LADDER]))
    return SPEED_LADDER[min(max(nearest + steps, 0), len(SPEED_LADDER) - 1)]


def initial_seed(configured):
    """The configured seed, or a fresh random one (logged, so a good moment can be shown again with --seed)."""
    if configured != "random":
        return int(configured)
    seed = random.SystemRandom().randrange(c.MAX_SEED + 1)
    log.info("seed %d (pass --seed %d to show this again)", seed, seed)
    return seed
