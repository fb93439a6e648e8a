"""Scenes: numbered snapshots of the show's look, saved to a JSON file and recalled across restarts.

A scene holds what makes the picture: mode, speed, psi, brightness, seed, captions and which tiles are held.
A held tile is recalled as held (frozen where it is at the recall: the latent itself is not stored), and every
other tile moves; a scene saved before holds were kept has no "held" and leaves holds as they are. Blackout and
pause are left out on purpose: they are masters a technician reaches for, and recalling a scene should never
darken the room or freeze the work. Recall returns Commands, so a scene is replayed through the same
validated path as a key press or an OSC message.

The file is rewritten whole on every save, atomically (model/atomic.py: a temporary file renamed over the old
one), so a power cut mid-save leaves the previous scenes intact. A file that cannot be read is moved aside,
not overwritten, and the show starts with no scenes.
"""
import json
import logging
import os
import time
from pathlib import Path

from model import atomic

from exhibit.commands import (
    MAX_SLOT, CommandError, Reseed, SetBrightness, SetCaptions, SetHolds, SetMode, SetPsi, SetSpeed)

log = logging.getLogger("exhibit.control.scenes")

# snapshot key -> the Command that restores it. Order matters: the mode first, then the new seed, the holds last.
RESTORE = {"mode": SetMode, "speed": SetSpeed, "psi": SetPsi, "brightness": SetBrightness,
           "captions": SetCaptions, "seed": Reseed, "held": SetHolds}


class SceneStore:
    """Scenes in slots 0..99, kept in memory and in one JSON file."""

    def __init__(self, path):
        self.path = Path(path)
        self.scenes = self._load()

    def _load(self):
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            scenes = raw["scenes"]
            if not isinstance(scenes, dict) or not all(isinstance(v, dict) for v in scenes.values()):
                raise ValueError("'scenes' must map slot numbers to settings")
            return {int(slot): values for slot, values in scenes.items()}
        except FileNotFoundError:
            return {}
        except (OSError, ValueError, KeyError, TypeError) as error:
            aside = self.path.with_name(f"{self.path.name}.unreadable-{time.strftime('%Y%m%d-%H%M%S')}")
            try:
                os.replace(self.path, aside)
                where = f"moved to {aside.name}"
            except OSError:
                where = "left in place"
            log.error("scenes: %s cannot be read (%s); %s, starting with no scenes", self.path, error, where)
            return {}

    def save(self, slot, snapshot):
        """Store the look in `snapshot` (the show's state dict) in `slot` and write the file."""
        if isinstance(slot, bool) or not isinstance(slot, int) or not 0 <= slot <= MAX_SLOT:
            raise CommandError(f"scene slot must be an integer in 0..{MAX_SLOT}, got {slot!r}")
        scene = {key: _plain(snapshot[key]) for key in RESTORE if snapshot.get(key) is not None}
        self.scenes[slot] = scene
        try:
            self._write()
        except OSError as error:
            log.error("scenes: cannot write %s (%s); scene %d is kept until the show ends", self.path, error, slot)
            return
        log.info("scene %d saved: %s", slot, ", ".join(f"{k} {v}" for k, v in scene.items()))

    def recall(self, slot):
        """The Commands that bring the show to the scene in `slot`; [] if the slot is empty."""
        scene, commands = self.scenes.get(slot, {}), []
        for key, make in RESTORE.items():
            if key in scene:
                try:
                    commands.append(make(scene[key]))
                except CommandError as error:     # a hand-edited file: skip the bad value, keep the rest
                    log.warning("scenes: slot %d in %s: skipping %s (%s)", slot, self.path, key, error)
        return commands

    def _write(self):
        """Replace the file atomically: readers (and a restart after a power cut) see old or new, never half."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps({"version": 1, "scenes": {str(k): v for k, v in sorted(self.scenes.items())}}, indent=2)
        atomic.write_text(self.path, text + "\n")


def _plain(value):
    """numpy scalars, lists of them and the like -> JSON's types."""
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):
        return value.item()
    return str(value)
