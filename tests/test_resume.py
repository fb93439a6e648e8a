"""State kept across restarts: written atomically, read back checked, a bad file is one line and a fresh start, and a
real restart of the show's process resumes where it was."""
import json
import logging
import os
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from exhibit import commands as c
from exhibit import config
from exhibit.show import resume
from exhibit.show.state import Show
from tests.test_exhibit_children import start_show

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "assets" / "default-64.keras"


def new_show(seed=5):
    return Show(config.load(overrides={"show": {"blend_seconds": 1.0}}), 16, seed)


def played():
    """A show that was played: a reseed, a tile of its own, a wave from a corner, new levels, 40 s in."""
    show = new_show()
    show.update(1.0)
    for command in (c.Reseed(), c.ReseedTile(17, 99), c.StartWave(2, 3), c.SetSpeed(2.0), c.SetPsi(0.5),
                    c.SetBrightness(1.3), c.SetCaptions(True)):
        show.apply(command)
    show.update(21.0)
    return show


def test_a_resumed_show_continues_the_same_walk_at_the_same_time(tmp_path):
    show = played()
    path = tmp_path / "state.json"
    resume.write(path, resume.capture(show, MODEL, MODEL))
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]          # no temporary file left behind
    state, model_file = resume.load(path, MODEL, 14, 14)
    assert model_file == MODEL.resolve()
    again = new_show(seed=state["seed"])
    again.resume(state)
    assert (again.seed, again.mode, again.speed, again.psi, again.brightness, again.captions) == \
        (show.seed, "wave", 2.0, 0.5, 1.3, True)
    assert again.time == pytest.approx(show.time) and show.time > 30
    for wall in (0.5, 9.0):              # the same latents now and later: the walk goes on, not a similar one
        show.update(21.0 + wall)
        again.update(wall)                 # the new process's wall clock starts at 0
        np.testing.assert_allclose(again.choreography.latents(again.time), show.choreography.latents(show.time),
                                   atol=1e-5)
    assert again.choreography.spec.overrides == {17: 99}


def test_hold_resumes_held(tmp_path):
    show = played()
    show.apply(c.SetMode("hold"))
    path = tmp_path / "state.json"
    resume.write(path, resume.capture(show, None, None))
    state, _ = resume.load(path, None, 14, 14)
    again = new_show(seed=state["seed"])
    again.resume(state)
    first = again.choreography.latents(again.time).copy()
    again.update(100.0)
    assert again.mode == "hold" and np.array_equal(again.choreography.latents(again.time), first)


def good(tmp_path):
    path = tmp_path / "state.json"
    resume.write(path, resume.capture(played(), MODEL, MODEL))
    return path


@pytest.mark.parametrize("damage, words", [
    (lambda p: p.write_bytes(p.read_bytes()[:57]), "is not a complete state file"),
    (lambda p: p.write_bytes(b"\x00" * 40), "is not a complete state file"),
    (lambda p: p.write_bytes(b"\xff\xfe garbage"), "cannot be read"),
    (lambda p: p.write_text(p.read_text().replace('"psi": 0.5', '"psi": 7')), "SetPsi: psi must be in 0..1.5"),
    (lambda p: p.write_text(p.read_text().replace('"format": 1', '"format": 9')), "format 9"),
    (lambda p: p.write_text("[]"), "format None"),
    (lambda p: (p.unlink(), p.mkdir()), "is a folder"),
])
def test_a_bad_file_is_one_line_and_a_fresh_start(tmp_path, caplog, damage, words):
    path = good(tmp_path)
    damage(path)
    with caplog.at_level(logging.WARNING, logger="exhibit"):
        assert resume.load(path, MODEL, 14, 14) == (None, MODEL)
    [record] = caplog.records
    assert words in record.getMessage() and "a fresh start" in record.getMessage() and "\n" not in record.getMessage()
    if path.is_dir():
        return
    kept = [p for p in tmp_path.iterdir() if p.name.startswith("state.json.unreadable-")]
    assert len(kept) == 1 and not path.exists()                    # set aside for a look, not overwritten


def test_another_model_or_grid_is_a_fresh_start(tmp_path, caplog):
    path = good(tmp_path)
    with caplog.at_level(logging.WARNING, logger="exhibit"):
        assert resume.load(path, tmp_path / "other.keras", 14, 14) == (None, tmp_path / "other.keras")
        assert resume.load(path, MODEL, 10, 10) == (None, MODEL)
    assert "from another model" in caplog.records[0].getMessage()
    assert "from a 14x14 grid, now 10x10" in caplog.records[1].getMessage()
    assert path.exists()                                           # a good file, kept for the model it belongs to


def test_a_folder_in_the_way_of_saving_is_an_error_and_nothing_half_written(tmp_path):
    (tmp_path / "state.json").mkdir()
    with pytest.raises(OSError):
        resume.write(tmp_path / "state.json", {"format": 1})
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]


# -- a real restart -------------------------------------------------------------------------------------------

def run_show(tmp_path, model, *extra, play=None):
    """Start `python -m exhibit --windowed --model MODEL` (dummy video), wait for the grid, `play(port)`, then SIGTERM
    it."""
    show, lines, port = start_show(tmp_path, "--set", f"paths.state={tmp_path / 'state.json'}",
                                   "--set", f"paths.scenes={tmp_path / 'scenes.json'}", *extra, seed=None, model=model)
    try:
        if play:
            play(port)
        time.sleep(3.0)
        os.killpg(show.pid, signal.SIGTERM)
        output, _ = show.communicate(timeout=60)
    finally:
        if show.poll() is None:
            os.killpg(show.pid, signal.SIGKILL)
            show.wait()
    output = "".join(lines) + output
    assert show.returncode == 0 and "Traceback" not in output, output[-2000:]
    return output, json.loads((tmp_path / "state.json").read_text())


@pytest.mark.slow
def test_a_real_restart_resumes_the_show(tmp_path, tiny_model):
    from pythonosc.udp_client import SimpleUDPClient

    def play(port):
        client = SimpleUDPClient("127.0.0.1", port)
        for address, value in [("/exhibit/mode", "unison"), ("/exhibit/speed", 2.0), ("/exhibit/psi", 0.5),
                               ("/exhibit/brightness", 1.25), ("/exhibit/tile/17/reseed", 99),
                               ("/exhibit/captions", 1)]:
            client.send_message(address, value)

    _, first = run_show(tmp_path, tiny_model, "--seed", "11", play=play)
    assert (first["mode"], first["speed"], first["psi"], first["brightness"], first["captions"], first["tiles"]) == \
        ("unison", 2.0, 0.5, 1.25, True, {"17": 99})

    output, second = run_show(tmp_path, tiny_model, "--seed", "12")   # no commands this time: all of it comes back
    assert "resumed from" in output, output[-2000:]
    for key in ("seed", "mode", "speed", "psi", "brightness", "captions", "tiles", "model"):
        assert second[key] == first[key], key
    assert second["time"] > first["time"] + 2.0                    # show time went on from where it was

    output, third = run_show(tmp_path, tiny_model, "--fresh", "--seed", "12")
    assert "resumed" not in output and third["seed"] == 12 and third["mode"] == "drift" and third["tiles"] == {}
    assert third["time"] < first["time"]
