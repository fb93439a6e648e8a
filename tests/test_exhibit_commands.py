"""The command vocabulary: every argument checked at construction, and the queue that carries commands."""
import math
import threading

import numpy as np
import pytest

from exhibit.commands import (
    CommandError, CommandQueue, LoadModel, Pause, ReseedTile, Reseed, SetBlackout, SetCaptions, SetMode, SetPsi,
    SetSpeed, StartWave, describe)


@pytest.mark.parametrize("build, message", [
    (lambda: SetSpeed(math.nan), "finite"),
    (lambda: SetSpeed(math.inf), "finite"),
    (lambda: SetSpeed(-0.5), "0..8"),
    (lambda: SetSpeed(8.5), "0..8"),
    (lambda: SetSpeed("2"), "number"),
    (lambda: SetSpeed(True), "number"),
    (lambda: SetPsi(1.6), "0..1.5"),
    (lambda: SetBlackout(1.01), "0..1"),
    (lambda: SetMode("spin"), "drift, wave, unison, hold"),
    (lambda: SetMode(1), "drift"),
    (lambda: ReseedTile(2.5), "integer"),
    (lambda: ReseedTile(-1), "0.."),
    (lambda: Reseed(2**32), "seed"),
    (lambda: StartWave("a", 1), "integer"),
    (lambda: SetCaptions(2), "0/1"),
    (lambda: LoadModel("../secret.keras"), "plain file name"),
    (lambda: LoadModel("/etc/passwd"), "plain file name"),
    (lambda: LoadModel(""), "non-empty"),
])
def test_bad_arguments_are_rejected_with_one_line(build, message):
    with pytest.raises(CommandError, match=message) as caught:
        build()
    assert "\n" not in str(caught.value)


def test_numbers_are_normalised_so_edges_build_equal_commands():
    assert SetSpeed(2) == SetSpeed(2.0) == SetSpeed(np.float32(2.0))
    assert ReseedTile(3.0) == ReseedTile(np.int64(3))
    assert isinstance(ReseedTile(3.0).tile, int)
    assert SetCaptions(1) == SetCaptions(True)
    assert describe(SetSpeed(1.5)) == "SetSpeed 1.5"


def test_commands_are_frozen():
    with pytest.raises(AttributeError):
        SetSpeed(1).multiplier = 9


def test_queue_coalesces_a_fader_burst_to_its_last_value_in_place():
    queue = CommandQueue()
    queue.put(Pause())
    for i in range(1000):
        queue.put(SetSpeed(i / 125))
        queue.put(SetPsi(i / 1000))
    queue.put(ReseedTile(5))
    assert queue.drain() == [Pause(), SetSpeed(999 / 125), SetPsi(0.999), ReseedTile(5)]
    assert len(queue) == 0


def test_queue_drops_the_oldest_when_full():
    queue = CommandQueue(maxsize=8)
    for i in range(20):
        queue.put(ReseedTile(i))
    assert [c.tile for c in queue.drain()] == list(range(12, 20))
    assert queue.dropped == 12


def test_queue_from_many_threads_loses_nothing_below_its_bound():
    queue = CommandQueue(maxsize=10_000)

    def send(offset):
        for i in range(1000):
            queue.put(ReseedTile(offset + i))

    threads = [threading.Thread(target=send, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(c.tile for c in queue.drain()) == list(range(4000))
