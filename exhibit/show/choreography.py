"""Where each tile is in latent space at show time t.

Every tile walks a path of seeded keyframe latents, one every `keyframe_seconds`, moving between them by slerp
with an ease in and out, so a tile rests a moment on each keyframe and the grid breathes rather than slides.
How the 196 walks relate is the mode:

  drift   each tile walks its own path, at its own phase: the grid never changes all at once
  unison  all tiles walk one shared path; the edge lags the centre by a fraction of a keyframe
  wave    one shared path, each tile delayed by its distance from a source tile: a change spreads outward
  hold    every tile stays where it was when hold began

A mode change, reseed or new wave source never cuts: it is a transition that slerps, tile by tile, from the
old walk to the new one over `blend_seconds`. The state is a stack of such transitions; a latent at time t is
the fold of the stack at t. Everything is a pure function of (seed, settings, transitions, t): the live show
and a render ask for the same t and get the same latents, on any machine, at any frame rate.
"""
import collections
import functools
import math
import threading
from dataclasses import dataclass, field, replace

import numpy as np

import model
from exhibit.config import SCHEMA

SHOW = SCHEMA["show"]      # the defaults of mode, keyframe_seconds, blend_seconds ... are the config's
SHARED = 0xC0FFEE          # stream id of the path that unison and wave share
MAX_TRANSITIONS = 512      # bound on the stack under a flood of commands
# Keyframes in use at once: 196 tiles x 2 (k and k+1) x the few specs a blend spans. A bigger cache only holds
# latents no tile will visit again: at speed 8 tiles pass ~150 new keyframes a second, and a cache that grew to tens
# of thousands before being cleared made the show's memory climb (and fragment) by ~100 MB an hour.
KEYFRAME_CACHE = 4096
# A change this soon after the last one (as a fraction of blend_seconds) retargets that transition rather than stack
# another. Retargeting moves the picture by ease(RETARGET) of the way from the old target to the new one at once:
# with 1/8 a reseed stepped 4.3% of the way to a random latent in one frame (0.56 in a 32-dim space where a frame's
# move is 0.03 to 0.08), with 1/16 1.1%. Under a flood at most 1/RETARGET blends are in flight.
RETARGET = 1 / 16


@functools.lru_cache(maxsize=8192)
def derive(*numbers):
    """A 64-bit seed from a tuple of non-negative ints: the same on every machine (numpy's SeedSequence)."""
    return int(np.random.SeedSequence([int(n) % 2**63 for n in numbers]).generate_state(1, np.uint64)[0])


def _within(tiles, group, n):
    """Are `tiles` (one tile, a tuple of them, or None: all n) among `group` (the same forms)?"""
    every = range(n)
    inner = every if tiles is None else np.atleast_1d(tiles).tolist()
    outer = every if group is None else np.atleast_1d(group).tolist()
    return set(inner) <= set(outer)


def ease(x):
    """Smoothstep: 0 below 0, 1 above 1, zero velocity at both ends."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


@dataclass(frozen=True)
class Spec:
    """One way for the whole grid to move. Transitions go from one Spec to the next."""
    mode: str
    seed: int
    overrides: dict = field(default_factory=dict, compare=False)   # tile -> seed of its own path (ReseedTile)
    source: tuple = (0, 0)                                           # wave source (row, col)
    wave_start: float = 0.0                                          # show time the current wave began
    frozen: np.ndarray | None = field(default=None, compare=False)   # hold: one latent per tile
    held: dict = field(default_factory=dict, compare=False)         # tile -> latent it holds (HoldTile)


class Choreography:
    """The latent of every tile at any show time, and the transitions that change where tiles are going."""

    def __init__(self, rows, cols, z_dim, seed, mode=SHOW["mode"].default,
                 keyframe_seconds=SHOW["keyframe_seconds"].default, blend_seconds=SHOW["blend_seconds"].default,
                 wave_delay=SHOW["wave_delay"].default, unison_spread=SHOW["unison_spread"].default):
        self.rows, self.cols, self.n = rows, cols, rows * cols
        self.z_dim = z_dim
        self.keyframe_seconds = keyframe_seconds
        self.blend_seconds = blend_seconds
        self.wave_delay = wave_delay
        self.unison_spread = unison_spread
        self.row, self.col = np.divmod(np.arange(self.n), cols)
        centre = np.hypot(self.row - (rows - 1) / 2, self.col - (cols - 1) / 2)
        self.from_centre = centre / max(centre.max(), 1e-9)         # 0 at the centre, 1 at the corners
        self._keyframes = collections.OrderedDict()     # (stream, k) -> latent, least recently used first
        self._cache_lock = threading.Lock()
        self.loop_keyframes = None                  # set by close_loop: keyframe k is keyframe k mod this
        self._lock = threading.Lock()
        start = Spec("drift" if mode == "hold" else mode, seed, source=(rows // 2, cols // 2))
        if mode == "hold":
            start = replace(start, mode="hold", frozen=self._path(start, 0.0, np.arange(self.n)))
        self._stack = [(-math.inf, start, None)]     # (start time, spec, tile or None for all tiles)

    @property
    def spec(self):
        """Where the grid is heading now (the newest transition's target)."""
        return self._stack[-1][1]

    # -- paths --------------------------------------------------------------------------------------------

    def _stream(self, spec, tile):
        """The seed of the keyframe sequence a tile walks under a spec."""
        own = spec.overrides.get(int(tile))
        if own is not None:
            return derive(own, tile)
        if spec.mode in ("unison", "wave"):
            return derive(spec.seed, SHARED)
        return derive(spec.seed, tile)

    def close_loop(self, period):
        """Make every walk periodic in show time with `period` seconds: the picture at t + period is the one at t.

        Each keyframe sequence repeats after K keyframes (K = period / keyframe_seconds, rounded, at least 2, so a
        tile still goes somewhere and comes back); the keyframe interval stretches slightly so K fit exactly. Every
        mode's position is keyframe time plus a constant offset, so the walks close on themselves.
        """
        if period <= 0:
            return                                   # a halted show is already a loop
        keyframes = max(2, round(period / self.keyframe_seconds))
        with self._lock:
            self.keyframe_seconds = period / keyframes
            self.loop_keyframes = keyframes
            self._keyframes.clear()

    def _keyframe(self, stream, k):
        if self.loop_keyframes:
            k %= self.loop_keyframes
        key = (stream, k)
        with self._cache_lock:                        # the generation thread and the show's thread both ask
            z = self._keyframes.get(key)
            if z is not None:
                self._keyframes.move_to_end(key)
                return z
        z = model.seeded_latents(derive(stream, k + 2**31), 1, self.z_dim)[0]
        with self._cache_lock:
            self._keyframes[key] = z
            if len(self._keyframes) > KEYFRAME_CACHE:
                self._keyframes.popitem(last=False)
        return z

    def _positions(self, spec, t, tiles, streams):
        """Position along each tile's keyframe sequence, in keyframes (k.f: between keyframe k and k+1)."""
        base = t / self.keyframe_seconds
        if spec.mode == "unison":
            return base - self.unison_spread * self.from_centre[tiles]
        if spec.mode == "wave":
            r, c = spec.source
            distance = np.hypot(self.row[tiles] - r, self.col[tiles] - c)
            start = math.ceil(spec.wave_start / self.keyframe_seconds)   # the wave leaves its source from a keyframe
            return start + (t - spec.wave_start - self.wave_delay * distance) / self.keyframe_seconds
        phases = np.array([(s >> 11) / 2.0**53 for s in streams])      # drift: each tile at its own phase
        return base + phases

    def _path(self, spec, t, tiles):
        """Latents [len(tiles), z_dim] of the given tiles under one spec at time t, without transitions."""
        if spec.frozen is not None:
            return spec.frozen[tiles]
        if spec.held:
            z = self._path(replace(spec, held={}), t, tiles)
            for row, tile in enumerate(tiles):
                if int(tile) in spec.held:
                    z[row] = spec.held[int(tile)]
            return z
        streams = [self._stream(spec, i) for i in tiles]
        position = self._positions(spec, t, tiles, streams)
        k = np.floor(position).astype(np.int64)
        a = np.stack([self._keyframe(s, int(j)) for s, j in zip(streams, k)])
        b = np.stack([self._keyframe(s, int(j) + 1) for s, j in zip(streams, k)])
        return model.slerp(a, b, ease(position - k)[:, None])

    def _weight(self, t, start):
        if t < start:
            return 0.0
        if self.blend_seconds <= 0:
            return 1.0
        return float(ease((t - start) / self.blend_seconds))

    # -- queries and changes ------------------------------------------------------------------------------

    def latents(self, t, tiles=None):
        """float32 [len(tiles), z_dim]: every requested tile's latent at show time t (all tiles if None).

        By definition a tile's latent is its first walk, slerped in turn toward each later transition that covers
        it, by that transition's weight at t. A complete transition has weight 1, and slerp(z, path, 1) is path
        exactly, so each tile starts from the newest transition that covers it and is complete at t: what came
        before cannot show. A flood of reseeds leaves a deep stack; this keeps the work to the blends still running.
        """
        tiles = np.arange(self.n) if tiles is None else np.asarray(tiles, np.int64)
        with self._lock:
            stack = list(self._stack)
        base = np.zeros(len(tiles), np.int64)      # per tile: index of the transition its fold starts from
        open_ = np.ones(len(tiles), bool)
        for j in range(len(stack) - 1, 0, -1):
            start, _, tile = stack[j]
            if self._weight(t, start) >= 1.0:
                found = open_ if tile is None else open_ & np.isin(tiles, tile)
                base[found] = j
                open_ &= ~found
                if not open_.any():
                    break
        z = np.empty((len(tiles), self.z_dim), np.float32)
        first = int(base.min()) if len(tiles) else len(stack)
        for j, (start, spec, tile) in enumerate(stack[first:], start=first):
            starting = np.flatnonzero(base == j)
            if len(starting):
                z[starting] = self._path(spec, t, tiles[starting])
            weight = self._weight(t, start)
            if weight <= 0.0:
                continue
            rows = np.flatnonzero((base < j) & (True if tile is None else np.isin(tiles, tile)))
            if len(rows):
                z[rows] = model.slerp(z[rows], self._path(spec, t, tiles[rows]), weight)
        return z

    def change(self, t, tile=None, **changes):
        """Begin a transition at show time t to the current spec with `changes` (only `tile` if given).

        Going to hold freezes what is on screen at t. A change within RETARGET of a blend of the previous one, to
        tiles that one also moves (a fader or an XY pad sweeping, a pattern sent again and again, four tiles
        reseeded just after all of them), retargets that transition instead of stacking another one: the new spec
        differs from the last one only on the new change's tiles. Other tiles start a blend of their own, so no
        tile joins a blend part-way through.
        """
        current = self.spec
        spec = replace(current, **changes)
        if spec.mode == "hold":
            frozen = self.latents(t) if current.mode != "hold" else current.frozen.copy()
            if current.mode == "hold" and ("seed" in changes or "overrides" in changes):
                moving = replace(spec, mode="drift", frozen=None)
                changed = np.arange(self.n) if tile is None else np.atleast_1d(np.array(tile))
                frozen[changed] = self._path(moving, t, changed)
            spec = replace(spec, frozen=frozen)
        else:
            spec = replace(spec, frozen=None)
        with self._lock:
            start, _, last_tile = self._stack[-1]
            soon = 0 <= t - start < self.blend_seconds * RETARGET
            if soon and len(self._stack) > 1 and _within(tile, last_tile, self.n):
                self._stack[-1] = (start, spec, last_tile)
            else:
                self._stack.append((t, spec, tile))
                self._prune(t)
        return spec

    def hold_tile(self, t, tile, on):
        """Freeze one tile where it is at show time t (on), or let it join its path again (off, blended).
        Returns True if that changed anything."""
        held = self.spec.held
        if on == (tile in held):
            return False
        if on:
            held = {**held, tile: self.latents(t, [tile])[0]}
        else:
            held = {k: v for k, v in held.items() if k != tile}
        self.change(t, tile=tile, held=held)
        return True

    def hold_tiles(self, t, tiles):
        """Hold exactly `tiles` (those newly held freeze where they are at show time t, those already held stay)
        and let every other tile go, in one transition. Returns True if that changed anything."""
        held, wanted = self.spec.held, set(tiles)
        if wanted == set(held):
            return False
        new = sorted(wanted - set(held))
        frozen = dict(zip(new, self.latents(t, new))) if new else {}
        changed = tuple(sorted(wanted.symmetric_difference(held)))
        self.change(t, tile=changed, held={i: held[i] if i in held else frozen[i] for i in sorted(wanted)})
        return True

    def _prune(self, t):
        """Forget transitions no query can reach: those before the newest whole-grid one complete long ago, and
        those whose every tile a later transition complete long ago covers (see latents)."""
        long_ago = self.blend_seconds + 30.0
        covered = np.zeros(self.n, bool)
        for j in range(len(self._stack) - 1, 0, -1):
            start, _, tile = self._stack[j]
            tiles = slice(None) if tile is None else np.atleast_1d(tile)
            if covered[tiles].all():
                del self._stack[j]              # each of its tiles starts from a later transition
            elif t - start > long_ago:
                if tile is None:
                    del self._stack[:j]         # it is the walk every later fold starts from
                    break
                covered[tiles] = True
        if len(self._stack) > MAX_TRANSITIONS:
            del self._stack[1:len(self._stack) - MAX_TRANSITIONS]

    def resume(self, t, mode, seed, overrides, source, wave_start):
        """Continue a saved show at show time t: its walk without transitions (a restart does not blend in).
        Hold freezes the tiles where that walk is at t (what was held before the restart is not stored)."""
        spec = Spec(mode, seed, dict(overrides), tuple(source), wave_start)
        if mode == "hold":
            spec = replace(spec, frozen=self._path(replace(spec, mode="drift"), t, np.arange(self.n)))
        with self._lock:
            self._stack = [(-math.inf, spec, None)]

    def reset_latent_size(self, z_dim, t):
        """A new model with another latent size: same seed and mode, paths redrawn in the new space."""
        with self._lock:
            spec = replace(self.spec, frozen=None)
            self.z_dim = z_dim
            self._keyframes.clear()
            if spec.mode == "hold":
                spec = replace(spec, frozen=self._path(replace(spec, mode="drift"), t, np.arange(self.n)))
            self._stack = [(-math.inf, spec, None)]
