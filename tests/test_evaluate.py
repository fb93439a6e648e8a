"""Quality figures: each one tells apart the cases it exists to tell apart, on images whose truth we know."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from train.evaluate import (distinctness, interpolation_smoothness, laplacian_pyramid, main, memorisation,
                            sliced_wasserstein)

ROOT = Path(__file__).resolve().parent.parent


def gradients(n, size, seed):
    """Smooth two-colour ramps at random angles: a distribution with structure at every scale but the finest."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / (size - 1)
    angle = rng.uniform(0, 2 * np.pi, (n, 1, 1))
    ramp = np.cos(angle) * xx + np.sin(angle) * yy
    ramp = (ramp - ramp.min(axis=(1, 2), keepdims=True)) / np.ptp(ramp, axis=(1, 2), keepdims=True)
    start, end = rng.uniform(0, 255, (2, n, 1, 1, 3))
    images = start + (end - start) * ramp[..., None] + rng.normal(0, 0.5, (n, size, size, 3))
    return np.clip(images, 0, 255).astype(np.uint8)


def noise(n, size, seed):
    return np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


# --- sliced Wasserstein ------------------------------------------------------------------------------------------

def test_laplacian_pyramid_goes_down_to_16_px_and_rebuilds_the_image():
    import cv2

    images = noise(2, 64, 0)
    levels = laplacian_pyramid(images)
    assert [level.shape[1] for level in levels] == [64, 32, 16]
    rebuilt = levels[-1]
    for finer in reversed(levels[:-1]):   # each level is exactly the detail its coarser neighbour lacks
        rebuilt = finer + np.stack([cv2.pyrUp(im, dstsize=finer.shape[1:3]) for im in rebuilt])
    np.testing.assert_allclose(rebuilt, images, atol=1e-3)


def test_swd_is_small_between_halves_of_one_distribution_and_large_against_another():
    both = gradients(200, 64, seed=1)
    same = sliced_wasserstein(both[:100], both[100:], seed=0)
    other = sliced_wasserstein(both[:100], noise(100, 64, seed=2), seed=0)
    assert same["resolutions"] == other["resolutions"] == [64, 32, 16]
    assert len(same["levels"]) == 3 and same["swd"] == pytest.approx(np.mean(same["levels"]))
    assert other["swd"] > 3 * same["swd"], (same, other)
    assert other["levels"][1] > 3 * same["levels"][1]   # mid-scale structure: ramps have it, noise does not


def test_swd_is_deterministic_for_a_seed():
    a, b = gradients(40, 32, seed=3), gradients(40, 32, seed=4)
    first, again, other_seed = (sliced_wasserstein(a, b, seed=s) for s in (7, 7, 8))
    assert first == again
    assert first["swd"] != other_seed["swd"]


def test_swd_refuses_image_sets_of_different_sizes():
    with pytest.raises(ValueError, match="differ in size"):
        sliced_wasserstein(noise(4, 32, 0), noise(4, 64, 0))


# --- memorisation and distinctness -------------------------------------------------------------------------------

def test_memorisation_ratio_is_far_below_one_for_copies_and_near_one_for_fresh_draws():
    real = gradients(200, 64, seed=5)
    copies = np.clip(real[:100] + np.random.default_rng(0).normal(0, 2, real[:100].shape), 0, 255).astype(np.uint8)
    fresh = gradients(100, 64, seed=6)
    assert memorisation(copies, real)["ratio"] < 0.2
    assert 0.75 < memorisation(fresh, real)["ratio"] < 1.33


def textured(n, size, seed):
    """Ramps with a strong 2 px grain of their own: images whose pixel distances are much fine detail."""
    images = gradients(n, size, seed).astype(np.float32)
    grain = np.random.default_rng(seed + 100).normal(0, 40, (n, size // 2, size // 2, 3)).repeat(2, 1).repeat(2, 2)
    return np.clip(images + grain, 0, 255).astype(np.uint8)


def test_memorisation_ratio_does_not_read_blur_as_copying_but_still_catches_blurred_copies():
    import cv2

    def blurred(images, sigma):
        return np.stack([cv2.GaussianBlur(im, (0, 0), sigma) for im in images])

    real, held_out = textured(300, 64, seed=7), textured(150, 64, seed=8)
    for sigma in (2.0, 4.0):   # a blurry model that copies nothing: new pictures, blurred
        figures = memorisation(blurred(held_out, sigma), real)
        assert figures["fake_nn_median"] / figures["sharp_real_nn_median"] < 0.8, "plain pixel distances call it copying"
        assert 0.8 < figures["ratio"] < 1.25, (sigma, figures)
        assert figures["baseline_blur_px"] > 0
    sharp = memorisation(held_out, real)
    assert 0.8 < sharp["ratio"] < 1.25 and sharp["baseline_blur_px"] == 0
    assert memorisation(real[:150], real)["ratio"] < 0.05                      # exact copies
    assert memorisation(blurred(real[:150], 1.0), real)["ratio"] < 0.6         # blurred copies are copies too


def test_distinctness_flags_a_collapsed_grid_and_passes_a_varied_one():
    real = gradients(100, 64, seed=7)
    collapsed = np.repeat(gradients(1, 64, seed=8), 196, axis=0)
    varied = gradients(196, 64, seed=9)
    assert distinctness(collapsed, real)["close_share"] == 1.0
    assert distinctness(varied, real)["close_share"] < 0.01


def test_distinctness_shows_a_grid_of_fourteen_pictures_with_slight_variations():
    pictures = np.repeat(gradients(14, 64, seed=14), 14, axis=0)
    tiles = np.clip(pictures + np.random.default_rng(1).normal(0, 8, pictures.shape), 0, 255).astype(np.uint8)
    share = distinctness(tiles, gradients(1000, 64, seed=13))["close_share"]
    assert share == pytest.approx(14 * (14 * 13 / 2) / (196 * 195 / 2))   # exactly the pairs within each picture


def test_distinctness_ignores_a_duplicate_file_in_the_real_set():
    real = gradients(50, 64, seed=10)
    real[1] = real[0]   # the same picture twice must not lower the bar to zero
    collapsed = np.repeat(gradients(1, 64, seed=11), 196, axis=0)
    assert distinctness(collapsed, real)["close_share"] == 1.0


# --- interpolation smoothness ------------------------------------------------------------------------------------

class PixelMap:
    """A generator as the evaluator sees one: z_dim, resolution, generate(z, psi). Its picture is a fixed
    function of z: smooth (colours following random projections of z), optionally with a hard switch on the sign
    of z[0], the kind of jump a badly trained generator shows mid-walk."""

    def __init__(self, step):
        self.z_dim, self.resolution, self.step = 8, 16, step
        self.weights = np.random.default_rng(0).normal(0, 0.3, (self.z_dim, self.resolution ** 2 * 3))

    def generate(self, z, psi=1.0):
        pixels = 1 / (1 + np.exp(-(psi * z) @ self.weights))
        if self.step:
            pixels = 0.3 * pixels + 0.7 * (z[:, :1] > 0)
        return (pixels * 255).astype(np.uint8).reshape(-1, self.resolution, self.resolution, 3)


def test_smoothness_is_near_one_for_a_smooth_map_and_large_for_a_map_with_a_jump():
    smooth = interpolation_smoothness(PixelMap(step=False), seed=0)
    jumpy = interpolation_smoothness(PixelMap(step=True), seed=0)
    assert 1.0 <= smooth["max_over_mean"] < 2.5, smooth
    assert jumpy["max_over_mean"] > 8, jumpy


# --- command line ------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("paintings")
    for i, image in enumerate(gradients(60, 64, seed=12)):
        Image.fromarray(image).save(folder / f"ramp{i:02}.png")
    return folder


def figures(stdout):
    """The last line: key=value pairs, for scripts."""
    return dict(pair.split("=") for pair in stdout.strip().splitlines()[-1].split())


def test_cli_on_a_fresh_generator_prints_a_table_a_machine_line_and_json(image_folder, tmp_path):
    out = tmp_path / "figures.json"
    result = subprocess.run(
        [sys.executable, "-m", "train", "evaluate", "fresh", "--data", str(image_folder), "--samples", "40",
         "--json", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    line = figures(result.stdout)
    assert set(line) == {"swd", "swd_levels", "memorisation_ratio", "distinct_close_share",
                         "smoothness_max_over_mean"}
    assert len(line["swd_levels"].split(",")) == 3
    assert "SWD" in result.stdout and "memorisation" in result.stdout
    report = json.loads(out.read_text())
    assert report["samples"] == 40 and report["real_images"] == report["folder_images"] == 60 and report["resolution"] == 64
    assert float(line["swd"]) == pytest.approx(report["sliced_wasserstein"]["swd"], abs=1e-3)
    assert report["distinctness"]["tiles"] == 196 and report["smoothness"]["paths"] == 8

    # An untrained generator is far from the images; half of the real set against the other half is the floor.
    assert main(["--split-real", "--data", str(image_folder), "--json", str(out)]) == 0
    floor = json.loads(out.read_text())
    assert floor["smoothness"] is None and floor["samples"] == floor["real_images"] == 30
    assert report["sliced_wasserstein"]["swd"] > 1.5 * floor["sliced_wasserstein"]["swd"]


def test_cli_names_a_missing_model_file(image_folder, tmp_path, capsys):
    assert main([str(tmp_path / "nowhere.keras"), "--data", str(image_folder)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nowhere.keras" in err


def test_cli_names_a_missing_data_folder(tmp_path, capsys):
    assert main(["fresh", "--data", str(tmp_path / "no-such-folder")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no-such-folder" in err
