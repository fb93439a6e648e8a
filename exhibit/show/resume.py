"""The show's state kept across restarts: a power cut, a crash or the daily restart resumes where the show was.

Every few seconds and on the way out the live show writes one small JSON file (`paths.state`): the seed and the
tiles' own reseeds, mode and wave source, speed, psi, brightness, captions, show time, and which model it was
drawing. The next start reads it and continues from there (`--fresh` ignores it). Blackout and pause are left out
on purpose, as in scenes: a restart should never open on a dark or frozen room.

The file is replaced atomically (a temporary file in the same folder, flushed to disk with fsync, then renamed over
the old one), so a power cut mid-write leaves the previous state, never half of one. A file that cannot be used
(truncated, not JSON, from another model or grid, a folder in its place) is one log line and a fresh start; it is
moved aside (`state.json.unreadable-<time>`) for someone to look at.
"""
import json
import logging
import math
import os
import tempfile
import time
from pathlib import Path

from exhibit import commands as c

log = logging.getLogger("exhibit")

FORMAT = 1
SAVE_EVERY = 5.0           # seconds between saves while the show runs


class StateError(ValueError):
    """A state file that cannot be resumed from; the message says why, in one line."""


def capture(show, model_path, configured_model):
    """The state to keep, as plain JSON values. model_path: the file the show draws with now (None: untrained);
    configured_model: the one the config names (a model loaded over OSC differs from it)."""
    spec = show.choreography.spec
    return {"format": FORMAT, "saved": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "model": _name(model_path), "configured_model": _name(configured_model),
            "z_dim": int(show.choreography.z_dim), "rows": show.rows, "cols": show.cols,
            "seed": int(show.seed), "reseeds": int(show.reseeds), "mode": show.mode,
            "wave": [int(v) for v in spec.source], "wave_start": float(spec.wave_start),
            "speed": float(show.speed), "psi": float(show.psi), "brightness": float(show.brightness),
            "captions": bool(show.captions), "time": float(show.time),
            "tiles": {str(tile): int(seed) for tile, seed in sorted(spec.overrides.items())}}


def _name(path):
    return str(Path(path).resolve()) if path else ""


def same_file(a, b):
    """True if a and b (paths or None for the untrained generator) name the same model."""
    return _name(a) == _name(b)


def write(path, state):
    """Replace the file at `path` with `state` atomically. Raises OSError (the old file is then untouched)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(state, file, indent=1)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if hasattr(os, "O_DIRECTORY"):      # the rename itself survives a power cut once the folder is on disk
        try:
            folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(folder)
            finally:
                os.close(folder)
        except OSError:
            pass


def read(path):
    """The checked state in the file at `path`, or None if there is none. Raises StateError naming what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        raise StateError(f"{path} is a folder, not a state file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise StateError(f"{path} cannot be read ({error})") from None
    try:
        state = json.loads(text)
    except ValueError as error:
        raise StateError(f"{path} is not a complete state file ({error})") from None
    try:
        return _check(state)
    except (KeyError, TypeError, ValueError, c.CommandError) as error:
        raise StateError(f"{path} is not a usable state file ({type(error).__name__}: {error})") from None


def _check(state):
    """Every value the show will take, validated like a Command (a hand-edited file is checked like OSC input)."""
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"format {state.get('format') if isinstance(state, dict) else None!r}, expected {FORMAT}")
    c.SetMode(state["mode"]), c.SetSpeed(state["speed"]), c.SetPsi(state["psi"])
    c.SetBrightness(state["brightness"]), c.SetCaptions(state["captions"]), c.Reseed(state["seed"])
    for key in ("rows", "cols", "z_dim", "reseeds", "seed"):
        if isinstance(state[key], bool) or not isinstance(state[key], int) or state[key] < 0:
            raise ValueError(f"{key} = {state[key]!r}")
    for key in ("time", "wave_start"):
        if isinstance(state[key], bool) or not isinstance(state[key], (int, float)) or not math.isfinite(state[key]):
            raise ValueError(f"{key} = {state[key]!r}")
    row, col = state["wave"]
    if not (0 <= row < state["rows"] and 0 <= col < state["cols"]):
        raise ValueError(f"wave = {state['wave']!r}")
    for tile, seed in state["tiles"].items():
        c.ReseedTile(int(tile), seed)
        if seed is None:
            raise ValueError(f"tile {tile} has no seed")
        if not 0 <= int(tile) < state["rows"] * state["cols"]:
            raise ValueError(f"tile {tile}")
    if not isinstance(state["model"], str) or not isinstance(state["configured_model"], str):
        raise ValueError("model")
    return state


def _set_aside(path):
    """Move an unusable file out of the way, so the next save does not destroy what someone may want to look at."""
    if not path.is_file():
        return ""
    aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
    try:
        os.replace(path, aside)
    except OSError:
        return ""
    return f" (the file is kept as {aside.name})"


def load(path, configured_model, rows, cols):
    """The state to resume from, and the model file to draw with: (state or None, model path or None).

    None and the configured model when there is no file, or it cannot be used (logged in one line): a fresh start.
    A model loaded over OSC before the restart is loaded again if it still exists and the config still names the
    model it had then; a config that names another model since means a new show.
    """
    try:
        state = read(path)
    except StateError as error:
        log.warning("state: %s; a fresh start%s", error, _set_aside(Path(path)))
        return None, configured_model
    if state is None:
        return None, configured_model
    if state["configured_model"] != _name(configured_model):
        log.warning("state: %s is from another model (%s, now %s); a fresh start", path,
                    state["configured_model"] or "untrained", _name(configured_model) or "untrained")
        return None, configured_model
    model = Path(state["model"]) if state["model"] else None
    if model is not None and not model.is_file():
        log.warning("state: %s was drawing %s, which is gone; a fresh start", path, model)
        return None, configured_model
    if (state["rows"], state["cols"]) != (rows, cols):
        log.warning("state: %s is from a %dx%d grid, now %dx%d; a fresh start", path, state["rows"], state["cols"],
                    rows, cols)
        return None, configured_model
    return state, model
