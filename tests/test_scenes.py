"""Scenes are saved to a real file, survive a restart, and bring a real Show back to the saved look."""
import json
import logging

from exhibit import commands as c
from exhibit import config
from exhibit.control.scenes import SceneStore
from exhibit.show.state import Show


def new_show(seed=1):
    return Show(config.load(), 64, seed)


def test_scene_survives_a_restart(tmp_path):
    path = tmp_path / "state" / "scenes.json"
    show = new_show()
    for command in (c.SetMode("wave"), c.SetSpeed(2.5), c.SetPsi(0.4), c.SetBrightness(1.2), c.Reseed(4242),
                    c.SetCaptions(True), c.SetBlackout(1.0), c.Pause()):
        show.apply(command)
    SceneStore(path).save(3, show.snapshot())
    assert not [p for p in path.parent.iterdir() if p.name != "scenes.json"], "a temporary file was left behind"

    restarted = new_show(seed=99)                      # a new process: new show, store read from the file
    for command in SceneStore(path).recall(3):
        restarted.apply(command)
    got = restarted.snapshot()
    assert {k: got[k] for k in ("mode", "speed", "psi", "brightness", "seed", "captions")} == {
        "mode": "wave", "speed": 2.5, "psi": 0.4, "brightness": 1.2, "seed": 4242, "captions": True}
    assert got["blackout"] == 0.0 and got["paused"] is False, "blackout and pause are masters, not part of a scene"


def test_empty_slot_recalls_nothing(tmp_path):
    assert SceneStore(tmp_path / "scenes.json").recall(5) == []


def test_saving_again_keeps_other_slots(tmp_path):
    path = tmp_path / "scenes.json"
    store = SceneStore(path)
    store.save(1, {"mode": "drift", "speed": 1.0})
    store.save(2, {"mode": "hold", "speed": 0.5})
    store.save(1, {"mode": "unison", "speed": 3.0})
    saved = json.loads(path.read_text())["scenes"]
    assert saved == {"1": {"mode": "unison", "speed": 3.0}, "2": {"mode": "hold", "speed": 0.5}}


def test_unreadable_file_is_moved_aside(tmp_path, caplog):
    path = tmp_path / "scenes.json"
    path.write_text("{ not json")
    with caplog.at_level(logging.ERROR, logger="exhibit.control.scenes"):
        store = SceneStore(path)
    assert store.recall(1) == []
    assert "scenes.json cannot be read" in caplog.text
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("scenes.json.unreadable-")]
    assert len(aside) == 1 and aside[0].read_text() == "{ not json", "the old file must not be lost"
    store.save(1, {"mode": "wave"})
    assert SceneStore(path).recall(1) == [c.SetMode("wave")]


def test_bad_values_in_a_hand_edited_file_are_skipped(tmp_path, caplog):
    path = tmp_path / "scenes.json"
    path.write_text(json.dumps({"version": 1, "scenes": {"2": {"mode": "spin", "speed": 99, "psi": 0.5}}}))
    with caplog.at_level(logging.WARNING, logger="exhibit.control.scenes"):
        assert SceneStore(path).recall(2) == [c.SetPsi(0.5)]
    assert "skipping mode" in caplog.text and "skipping speed" in caplog.text


def test_unwritable_folder_keeps_the_show_going(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    store = SceneStore(blocker / "scenes.json")
    with caplog.at_level(logging.ERROR, logger="exhibit.control.scenes"):
        store.save(1, {"mode": "hold"})
    assert "cannot write" in caplog.text
    assert store.recall(1) == [c.SetMode("hold")]


def test_held_tiles_are_part_of_a_scene(tmp_path):
    path = tmp_path / "scenes.json"
    show = new_show()
    for tile in (5, 40):
        show.apply(c.HoldTile(tile, True))
    SceneStore(path).save(1, show.snapshot())
    assert json.loads(path.read_text())["scenes"]["1"]["held"] == [5, 40]

    show.apply(c.HoldTile(5, False))
    show.apply(c.HoldTile(100, True))                  # the held set moved on since the save
    show.update(1.0)
    for command in SceneStore(path).recall(1):
        show.apply(command)
    assert show.snapshot()["held"] == [5, 40]
    # Once the recall's blend is over, a held tile stands still while its neighbours move on.
    chor, settled = show.choreography, show.time + show.choreography.blend_seconds
    before, after = chor.latents(settled, [5, 40, 6, 41]), chor.latents(settled + 3.0, [5, 40, 6, 41])
    assert (before[:2] == after[:2]).all() and not (before[2:] == after[2:]).all(axis=1).any()


def test_a_scene_without_holds_releases_them_and_an_old_file_leaves_them(tmp_path):
    path = tmp_path / "scenes.json"
    show = new_show()
    SceneStore(path).save(2, show.snapshot())          # nothing held
    show.apply(c.HoldTile(9, True))
    for command in SceneStore(path).recall(2):
        show.apply(command)
    assert show.snapshot()["held"] == []

    # scenes.json as written before holds were kept: no "held" key. Recall keeps the holds as they are.
    path.write_text(json.dumps({"version": 1, "scenes": {"3": {"mode": "drift", "speed": 1.5}}}))
    show.apply(c.HoldTile(9, True))
    commands = SceneStore(path).recall(3)
    assert commands == [c.SetMode("drift"), c.SetSpeed(1.5)]
    for command in commands:
        show.apply(command)
    assert show.snapshot()["held"] == [9]


def test_held_tiles_outside_a_smaller_grid_are_skipped_with_a_reason(tmp_path, caplog):
    path = tmp_path / "scenes.json"
    path.write_text(json.dumps({"version": 1, "scenes": {"4": {"held": "all", "psi": 0.5}}}))
    with caplog.at_level(logging.WARNING, logger="exhibit.control.scenes"):
        assert SceneStore(path).recall(4) == [c.SetPsi(0.5)]
    assert "skipping held" in caplog.text
