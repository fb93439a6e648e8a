"""model/: the generator file contract and the latent maths, as train/ and exhibit/ rely on them."""
import subprocess
import sys
import zipfile

import numpy as np
import pytest

import model


@pytest.fixture(scope="module")
def tiny():
    return model.new_generator(32, seed=3, width=32)


def test_generate_gives_uint8_tiles_of_the_model_resolution(tiny):
    images = tiny.generate(model.seeded_latents(0, 5, tiny.z_dim))
    assert images.shape == (5, 32, 32, 3) and images.dtype == np.uint8
    assert images.std() > 1, "a fresh generator still draws something, not a flat field"
    assert tiny.generate(np.zeros((0, tiny.z_dim), np.float32)).shape == (0, 32, 32, 3)


def test_generate_rejects_latents_of_the_wrong_size(tiny):
    with pytest.raises(ValueError, match=f"\\[N, {tiny.z_dim}\\]"):
        tiny.generate(np.zeros((2, tiny.z_dim + 1), np.float32))


def test_psi_zero_draws_the_average_image_for_every_latent(tiny):
    images = tiny.generate(model.seeded_latents(1, 4, tiny.z_dim), psi=0.0).astype(int)
    assert np.abs(images - images[0]).max() <= 1
    varied = tiny.generate(model.seeded_latents(1, 4, tiny.z_dim), psi=1.0).astype(int)
    assert np.abs(varied - varied[0]).max() > 10


def test_seeded_latents_are_reproducible_and_distinct():
    a, b = model.seeded_latents(7, 3, 16), model.seeded_latents(7, 3, 16)
    assert np.array_equal(a, b) and a.dtype == np.float32
    assert not np.allclose(a, model.seeded_latents(8, 3, 16))
    # PCG64's stream is fixed by numpy's compatibility policy: the first value of seed 0 never changes.
    assert model.seeded_latents(0, 1, 1)[0, 0] == pytest.approx(0.12573022, abs=1e-6)


def test_slerp_keeps_ends_and_stays_on_the_sphere():
    a, b = model.seeded_latents(0, 2, 128)
    assert np.allclose(model.slerp(a, b, 0.0), a, atol=1e-5)
    assert np.allclose(model.slerp(a, b, 1.0), b, atol=1e-5)
    middle = model.slerp(a, b, 0.5)
    lerp = (a + b) / 2
    expected_norm = (np.linalg.norm(a) + np.linalg.norm(b)) / 2
    assert abs(np.linalg.norm(middle) - expected_norm) < 0.05 * expected_norm
    assert np.linalg.norm(lerp) < 0.85 * expected_norm, "a straight line would dip toward the centre"
    # Broadcasting: many pairs at many times at once, and identical ends stay put.
    t = np.linspace(0, 1, 5, dtype=np.float32)[:, None]
    assert model.slerp(a[None], b[None], t).shape == (5, 128)
    assert np.allclose(model.slerp(a, a, 0.3), a, atol=1e-5)


def test_saved_generator_loads_with_its_metadata_and_draws_the_same(tiny, tmp_path):
    z = model.seeded_latents(2, 3, tiny.z_dim)
    path = model.save_generator(tiny.network, tmp_path / "g.keras", {"dataset": "paintings", "steps": 12})
    loaded = model.load_generator(path)
    assert (loaded.z_dim, loaded.resolution) == (tiny.z_dim, 32)
    assert loaded.metadata["dataset"] == "paintings" and loaded.metadata["steps"] == 12
    assert "date" in loaded.metadata
    assert np.array_equal(loaded.generate(z), tiny.generate(z))
    assert not list(tmp_path.glob(".*tmp*")), "no temporary file is left behind"


def test_a_saved_generator_loads_in_a_fresh_process_with_model_alone(tiny, tmp_path):
    path = model.save_generator(tiny.network, tmp_path / "g.keras", {"dataset": "x"})
    code = ("import sys, model; g = model.load_generator(sys.argv[1]); "
            "print(g.generate(model.seeded_latents(0, 2, g.z_dim)).shape); "
            "assert not any(m == 'train' or m.startswith(('train.', 'exhibit')) for m in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(2, 32, 32, 3)" in result.stdout


def _damaged_files(tiny, tmp_path):
    good = model.save_generator(tiny.network, tmp_path / "good.keras", {})
    data = good.read_bytes()
    (tmp_path / "truncated.keras").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.keras").write_bytes(b"")
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0xFF
    (tmp_path / "flipped.keras").write_bytes(bytes(flipped))
    (tmp_path / "text.keras").write_text("not a model")
    with zipfile.ZipFile(tmp_path / "other.keras", "w") as archive:
        archive.writestr("config.json", '{"class_name": "Sequential", "config": {}}')
        archive.writestr("model.weights.h5", b"")
    return {"missing.keras": "no such file", "empty.keras": "empty", "truncated.keras": "truncated",
            "flipped.keras": "corrupt", "text.keras": "not a generator file",
            "other.keras": "not a Medium · Permeation generator"}


def test_broken_files_raise_one_clear_error_naming_the_file(tiny, tmp_path):
    for name, reason in _damaged_files(tiny, tmp_path).items():
        with pytest.raises(model.ModelFileError) as caught:
            model.load_generator(tmp_path / name)
        message = str(caught.value)
        assert name in message and reason in message, message
        assert "\n" not in message


def test_a_keras_file_with_code_in_it_is_refused_without_running_it(tmp_path):
    """A .keras file can carry a Lambda layer (Python code). Loading must refuse it, and never run it."""
    import keras
    marker = tmp_path / "ran"
    inputs = keras.Input((4,))
    marker_name = str(marker)
    outputs = keras.layers.Lambda(lambda x: x * 2 + 0 * open(marker_name, "w").write("x"),
                                  output_shape=(4,))(inputs)
    keras.Model(inputs, outputs).save(tmp_path / "lambda.keras")
    marker.unlink(missing_ok=True)
    with pytest.raises(model.ModelFileError, match="lambda.keras: not a Medium · Permeation generator"):
        model.load_generator(tmp_path / "lambda.keras")
    assert not marker.exists()


def test_a_newer_file_format_asks_for_an_update(tiny, tmp_path):
    import json
    good = model.save_generator(tiny.network, tmp_path / "good.keras", {})
    with zipfile.ZipFile(good) as archive:
        entries = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(entries["config.json"])
    config["config"]["info"]["format_version"] = 99
    entries["config.json"] = json.dumps(config)
    with zipfile.ZipFile(tmp_path / "future.keras", "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.raises(model.ModelFileError, match="future.keras: made by a newer version"):
        model.load_generator(tmp_path / "future.keras")


def test_noise_numbers_give_each_image_its_own_fixed_grain(tiny):
    """The exhibit gives every tile its own noise number: same number, same image; another number, other grain."""
    z = np.repeat(model.seeded_latents(4, 1, tiny.z_dim), 3, axis=0)
    tiny.network.blocks[-1][0].noise_strength.assign(1.0)   # a fresh generator starts with no noise at all
    try:
        images = tiny.generate(z, noise=[0, 0, 7]).astype(int)
        assert np.array_equal(images[0], images[1])
        assert np.abs(images[2] - images[0]).mean() > 1
        alone = tiny.generate(z[:1], noise=[7]).astype(int)   # another batch size may pick another float kernel:
        assert np.abs(alone - images[2:3]).max() <= 1            # the same picture, to the last rounding step
        with pytest.raises(ValueError, match="one number per latent"):
            tiny.generate(z, noise=[1, 2])
    finally:
        tiny.network.blocks[-1][0].noise_strength.assign(0.0)
