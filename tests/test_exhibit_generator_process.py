"""The live show draws in a generator process, so TensorFlow never shares a process with the display."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import model
from exhibit.generation.process import RemoteGenerator

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def remote():
    generator = RemoteGenerator(None, resolution=32)
    yield generator
    generator.close()


def test_the_generator_process_draws_what_the_model_draws_here(remote):
    local = model.new_generator(32)
    z = model.seeded_latents(5, 6, local.z_dim)
    assert (remote.z_dim, remote.resolution, remote.name) == (local.z_dim, 32, "untrained")
    assert np.array_equal(remote.generate(z, psi=0.7), local.generate(z, psi=0.7))


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="per-thread nice values are read from Linux's /proc")
def test_the_generator_process_draws_at_the_lowest_priority_on_every_thread(remote):
    """What `ps -L -o tid,ni` shows: the render loop and the OSC receiver come first. On Linux a nice value is
    per thread, and TensorFlow's compute threads (which do the drawing) once stayed at the loading value."""
    remote.generate(model.seeded_latents(0, 2, remote.z_dim))
    tasks = Path(f"/proc/{remote.pid}/task")
    nice = {tid.name: int((tid / "stat").read_text().rsplit(")", 1)[1].split()[16]) for tid in tasks.iterdir()}
    assert len(nice) > 2 and set(nice.values()) == {19}, nice


def test_a_saved_model_file_draws_the_same_in_the_generator_process(tmp_path):
    local = model.new_generator(32, seed=2)
    path = model.save_generator(local.network, tmp_path / "paintings.keras", {"dataset": "paintings", "steps": 3,
                                                                              "training": {"train": {"seed": 0}}})
    remote = RemoteGenerator(path)
    try:
        z = model.seeded_latents(6, 4, local.z_dim)
        assert remote.name == "paintings" and remote.metadata["dataset"] == "paintings"
        assert np.array_equal(remote.generate(z, noise=[0, 1, 2, 3]), local.generate(z, noise=[0, 1, 2, 3]))
    finally:
        remote.close()


def test_a_killed_generator_process_is_restarted_and_drawing_goes_on(remote):
    z = model.seeded_latents(1, 2, remote.z_dim)
    before = remote.generate(z)
    assert remote.restarts == 0
    remote._process.kill()
    remote._process.join()
    assert np.array_equal(remote.generate(z), before)
    assert remote.restarts == 1                    # counted for the heartbeat and /exhibit/status


def test_a_broken_model_file_is_the_same_clear_error_as_in_process(tmp_path):
    broken = tmp_path / "broken.keras"
    broken.write_bytes(b"PK\x03\x04 not really")
    with pytest.raises(model.ModelFileError, match="broken.keras: not a generator file"):
        RemoteGenerator(broken)


def test_the_show_process_does_not_load_tensorflow():
    """TensorFlow's global LLVM symbols crash LLVM-based graphics drivers (Mesa) loaded into the same process."""
    code = ("import sys, exhibit.__main__, exhibit.live, exhibit.screen.gpu, exhibit.screen.display, exhibit.generation.process; "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TensorFlow was imported'")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_every_generator_meets_the_one_contract(remote):
    """The worker and stage never ask which kind they hold: the loaded model and the generator process are alike."""
    local = model.new_generator(32)
    for generator in (local, remote):
        assert isinstance(generator, model.ImageGenerator)
        images = generator.generate(model.seeded_latents(2, 3, generator.z_dim), psi=0.5, noise=[0, 1, 2])
        assert images.dtype == np.uint8 and images.shape == (3, generator.resolution, generator.resolution, 3)
        assert isinstance(generator.name, str) and generator.metadata["z_dim"] == generator.z_dim
    local.close()
    local.close()                         # closing twice is harmless
    assert not isinstance(object(), model.ImageGenerator)
