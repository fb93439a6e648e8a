"""Checkpoints: every variable of a run plus its counters, in one .npz file written atomically.

A checkpoint is written atomically (model/atomic.py), so a kill -9 at any moment leaves either the previous
checkpoint or the new one, never half of one. Loading falls back to the newest file that reads completely.
"""
import json
import re
import zipfile
from pathlib import Path

import numpy as np

from model.atomic import replacing

PATTERN = re.compile(r"^step-(\d{8})\.npz$")
ARCHITECTURE_KEYS = ("resolution", "z_dim", "w_dim", "width", "mapping_layers")
# Settings a checkpoint's weights are shaped by: changing them on resume cannot work.
REFUSED_ON_RESUME = tuple(("model", k) for k in ARCHITECTURE_KEYS)


class CheckpointError(Exception):
    """A checkpoint that does not fit this run; the message says why and what to do."""


def checkpoint_dir(run_dir):
    return Path(run_dir) / "checkpoints"


def save(run_dir, step, groups, state, keep=3):
    """Write {group: [variables]} and the JSON-able `state` as checkpoints/step-NNNNNNNN.npz; prune old ones."""
    folder = checkpoint_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {f"{group}/{i:04d}": np.asarray(v.numpy()) for group, variables in groups.items()
              for i, v in enumerate(variables)}
    arrays["state"] = np.frombuffer(json.dumps({**state, "step": int(step)}).encode(), np.uint8)
    path = folder / f"step-{step:08d}.npz"
    with replacing(path) as temporary, open(temporary, "wb") as f:
        np.savez(f, **arrays)
    for old in all_checkpoints(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def all_checkpoints(run_dir):
    folder = checkpoint_dir(run_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if PATTERN.match(p.name))


def read_state(path):
    """The counters of a checkpoint; raises CheckpointError if the file is incomplete."""
    try:
        with zipfile.ZipFile(path) as archive:
            if archive.testzip() is not None:
                raise CheckpointError(f"{path}: corrupt")
        with np.load(path) as data:
            return json.loads(bytes(data["state"]).decode())
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as error:
        raise CheckpointError(f"{path}: unreadable ({error})") from None


def latest(run_dir, log=print):
    """The newest checkpoint that reads completely, or None."""
    for path in reversed(all_checkpoints(run_dir)):
        try:
            read_state(path)
            return path
        except CheckpointError as error:
            log(f"warning: skipping {error}")
    return None


def finite(path, group):
    """Whether every array of `group` (e.g. "ema") in the checkpoint at `path` is free of NaN and infinity."""
    with np.load(path) as data:
        return all(np.isfinite(data[k]).all() for k in data.files if k.startswith(group + "/"))


def restore(path, groups):
    """Assign the checkpoint's arrays to {group: [variables]} and return its state."""
    state = read_state(path)
    with np.load(path) as data:
        for group, variables in groups.items():
            stored = sorted(k for k in data.files if k.startswith(group + "/"))
            if len(stored) != len(variables):
                raise CheckpointError(f"{path}: holds {len(stored)} {group} variables, this run has {len(variables)}"
                                      " (settings changed? use a new --out folder)")
            for i, variable in enumerate(variables):
                value = data[f"{group}/{i:04d}"]
                if tuple(value.shape) != tuple(variable.shape):
                    raise CheckpointError(f"{path}: {group} variable {i} has shape {value.shape}, this run "
                                          f"{tuple(variable.shape)} (settings changed? use a new --out folder)")
                variable.assign(value)
    return state


def check_resume(run_dir, config, log=print):
    """The newest complete checkpoint of run_dir (None: nothing to resume), checked against this start's settings.

    Compares the settings the checkpoint was made with to `config`: raises ValueError naming an architecture change
    (its weights cannot take it); logs the rest, which apply from this step on (learning rates, R1, EMA,
    augmentation, steps, intervals, batch size, data and distribution settings). Checkpoints of older versions
    carry no settings; run.json stands in. Needs no TensorFlow, so `python -m train` can refuse before it loads.
    """
    run_dir = Path(run_dir)
    path = latest(run_dir, log)
    if path is None:
        return None
    before = read_state(path).get("settings")
    if before is None and (run_dir / "run.json").exists():
        before = json.loads((run_dir / "run.json").read_text())
    if before is None:
        return path
    refused = [f"{section}.{key} = {before[section][key]} (now {config[section][key]})"
               for section, key in REFUSED_ON_RESUME
               if section in before and key in before[section] and before[section][key] != config[section][key]]
    if refused:
        raise ValueError(f"{run_dir} holds checkpoints trained with {', '.join(refused)}: use the same settings to "
                         "resume, or a new --out folder")
    changed = [f"{section}.{key} {before[section][key]} -> {value}" for section, values in config.items()
               for key, value in values.items()
               if section in before and key in before[section] and before[section][key] != value]
    if changed:
        log(f"changed since {path.name} (applied from now on): {', '.join(changed)}")
    return path
