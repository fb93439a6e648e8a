"""The training data: what an artist checks when they point the trainer at their folder."""
import hashlib
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.images import BACKGROUND, make_image_folder, quadrant_card
from train.data import DataError, UnreadableImage, load_dataset, load_image, make_tf_dataset

R = 32


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return make_image_folder(tmp_path_factory.mktemp("data") / "my art")


def load(root, resolution=R, **kwargs):
    lines = []
    ds = load_dataset(root, resolution, log=lines.append, **kwargs)
    return ds, lines


def patch(img, fx, fy):
    """Mean colour of a small patch around (fx, fy), given as fractions of the image."""
    r = max(1, len(img) // 16)
    x, y = int(fx * len(img)), int(fy * len(img))
    return img[y - r:y + r, x - r:x + r].reshape(-1, 3).mean(axis=0)


def check_colours(img, expected, background, name):
    for (fx, fy), colour in expected.probes.items():
        want = np.array(background if colour == BACKGROUND else colour, float)
        got = patch(img, fx, fy)
        assert np.abs(got - want).max() <= expected.tolerance, \
            f"{name} at ({fx}, {fy}): got {got.round()}, expected {want}"


def tree_fingerprint(root: Path) -> dict:
    """Every file and folder under root (hidden ones too) with its size and content hash."""
    return {p.relative_to(root).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir")
            for p in sorted(root.rglob("*"))}


# ---------------------------------------------------------------------------------------------------------------
# load_dataset

def test_every_readable_image_loads_with_its_colours_orientation_and_crop(folder):
    ds, _ = load(folder["root"])
    assert [p.as_posix() for p in ds.paths] == sorted(folder["images"], key=lambda s: Path(s).parts)
    assert ds.images.shape == (len(folder["images"]), R, R, 3) and ds.images.dtype == np.uint8
    assert ds.name == "my art"
    for img, path in zip(ds.images, ds.paths):
        check_colours(img, folder["images"][path.as_posix()], (255, 255, 255), path.as_posix())


def test_transparency_is_composited_on_the_chosen_background(folder):
    ds, _ = load(folder["root"], background=(0, 128, 0))
    transparent = {"palette_alpha.png", "rgba.png", "gray_alpha.png"}
    for img, path in zip(ds.images, ds.paths):
        if path.as_posix() in transparent:
            check_colours(img, folder["images"][path.as_posix()], (0, 128, 0), path.as_posix())


def test_broken_files_are_listed_by_name_with_a_reason_and_loading_goes_on(folder):
    ds, lines = load(folder["root"])
    broken = folder["broken"]
    n_files = len(folder["images"]) + len(broken)
    assert lines[0] == f"skipped {len(broken)} of {n_files} files:"
    listed = {line.strip().split(": ", 1)[0]: line.split(": ", 1)[1] for line in lines[1:1 + len(broken)]}
    assert set(listed) == set(broken)
    assert "empty" in listed["empty.png"]
    assert "not an image" in listed["notes.jpg"] and "not an image" in listed["random.png"]
    assert "truncated" in listed["truncated.jpg"] and "truncated" in listed["sub/cut.png"]
    assert {p.as_posix(): reason for p, reason in ds.skipped} == listed
    assert len(ds) == len(folder["images"])   # the run goes on with everything else


def test_hidden_and_non_image_files_are_neither_loaded_nor_listed_as_broken(folder):
    ds, lines = load(folder["root"])
    log = "\n".join(lines)
    for rel in folder["hidden"]:
        assert Path(rel) not in ds.paths and rel not in log
    for rel in folder["other"]:
        assert Path(rel) not in ds.paths
    assert "ignored 2 files" in log and ".txt" in log


def test_small_images_are_upscaled_and_noted_once(folder):
    ds, lines = load(folder["root"], resolution=48)
    assert Path("tiny.png") in ds.paths
    notes = [line for line in lines if "upscaled" in line]
    assert len(notes) == 1 and notes[0].startswith("upscaled 1 image smaller than 48 px") and "tiny.png" in notes[0]
    ds, lines = load(folder["root"], resolution=64)       # the 48 px photo is now small too
    assert [line for line in lines if "upscaled" in line][0].startswith("upscaled 2 images")


def test_loading_is_deterministic(folder):
    a, _ = load(folder["root"])
    b, _ = load(folder["root"])
    assert a.paths == b.paths and np.array_equal(a.images, b.images)


def test_the_data_folder_is_left_byte_for_byte_unchanged(tmp_path):
    root = make_image_folder(tmp_path / "fresh")["root"]    # never loaded before, so no earlier load can hide a write
    before = tree_fingerprint(root)
    load(root)
    load(root, resolution=16, background=(0, 0, 0))
    assert tree_fingerprint(root) == before


def test_too_few_usable_images_is_one_clear_error(tmp_path):
    root = tmp_path / "three"
    root.mkdir()
    for i in range(3):
        quadrant_card().save(root / f"{i}.png")
    (root / "broken.jpg").write_bytes(b"")
    lines = []
    with pytest.raises(DataError) as e:
        load_dataset(root, R, min_images=8, log=lines.append)
    assert str(e.value) == f"only 3 usable images in {root} (need at least 8): add images or lower data.min_images"
    assert any("broken.jpg" in line for line in lines)      # the artist also learns why one did not count


def test_missing_or_not_a_folder_names_the_path(tmp_path):
    with pytest.raises(DataError, match="not found: .*nowhere"):
        load_dataset(tmp_path / "nowhere", R, log=lambda s: None)
    (tmp_path / "a.png").write_bytes(b"")
    with pytest.raises(DataError, match="not a directory: .*a.png"):
        load_dataset(tmp_path / "a.png", R, log=lambda s: None)


@pytest.fixture(scope="module")
def big_photo(tmp_path_factory):
    """A 12000 x 8000 photo (96 megapixels): past Pillow's bomb warning, and legitimate."""
    path = tmp_path_factory.mktemp("big") / "big.jpg"
    Image.new("L", (12000, 8000), 90).save(path, quality=80)
    return path


def bomb_png(path):
    """A PNG whose header claims 20000 x 10000 px; it must be refused from the header, before memory is spent."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 20000, 10000, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
                     + chunk(b"IEND", b""))


# pytest resets warning filters for each test; the next test checks the warning in a real process.
@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_12000x8000_photo_loads_and_an_absurd_size_is_skipped_with_a_reason(tmp_path, big_photo):
    shutil.copy(big_photo, tmp_path / "big.jpg")
    bomb_png(tmp_path / "bomb.png")
    ds, lines = load(tmp_path)
    assert [p.name for p in ds.paths] == ["big.jpg"] and (ds.images == 90).all()
    assert lines[1].startswith("  bomb.png: too large") and "downsize" in lines[1]


def test_a_large_photo_prints_no_decompression_bomb_warning(big_photo):
    code = "import sys; from train.data import load_image; load_image(sys.argv[1], 16)"
    run = subprocess.run([sys.executable, "-W", "default", "-c", code, str(big_photo)],
                         cwd=Path(__file__).parent.parent, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "DecompressionBomb" not in run.stderr


# ---------------------------------------------------------------------------------------------------------------
# load_image

def test_load_image_returns_a_square_or_raises_with_the_reason(folder):
    img = load_image(folder["root"] / "sideways.jpg", 24, (255, 255, 255))
    assert img.shape == (24, 24, 3) and img.dtype == np.uint8
    for rel in folder["broken"]:
        with pytest.raises(UnreadableImage) as e:
            load_image(folder["root"] / rel, 24)
        assert str(e.value)


# ---------------------------------------------------------------------------------------------------------------
# make_tf_dataset

def distinct_images(n, size=8):
    """n images that differ from each other and from their own mirror images."""
    return np.random.default_rng(1).integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def take(ds, n):
    return [b.numpy() for b in ds.take(n)]


def to_uint8(batch):
    return np.rint((batch + 1.0) * 127.5).astype(np.uint8)


def test_batches_have_the_right_shape_range_and_dtype():
    batches = take(make_tf_dataset(distinct_images(5), 4, seed=0), 7)   # more batches than one epoch: repeats
    assert len(batches) == 7
    for b in batches:
        assert b.shape == (4, 8, 8, 3) and b.dtype == np.float32
        assert b.min() >= -1.0 and b.max() <= 1.0


def test_without_mirror_each_epoch_is_a_shuffle_of_the_images():
    images = distinct_images(5)
    epochs = take(make_tf_dataset(images, 5, seed=3, mirror=False), 4)
    key = lambda a: a.tobytes()
    for batch in epochs:
        assert sorted(map(key, to_uint8(batch))) == sorted(map(key, images))
    assert len({to_uint8(b).tobytes() for b in epochs}) > 1     # reshuffled each epoch


def test_mirror_flips_some_images_left_right_and_nothing_else():
    images = distinct_images(6)
    originals = {a.tobytes() for a in images}
    mirrored = {a[:, ::-1].tobytes() for a in images}
    seen = [a.tobytes() for b in take(make_tf_dataset(images, 6, seed=0), 5) for a in to_uint8(b)]
    assert set(seen) <= originals | mirrored
    assert set(seen) & originals and set(seen) & mirrored


def test_fewer_images_than_the_batch_still_fills_every_batch():
    batches = take(make_tf_dataset(distinct_images(3), 8, seed=0), 2)
    assert [b.shape[0] for b in batches] == [8, 8]


def test_the_stream_is_the_same_for_a_seed_and_differs_between_seeds():
    images = distinct_images(7)
    a = take(make_tf_dataset(images, 4, seed=11), 6)
    b = take(make_tf_dataset(images, 4, seed=11), 6)
    c = take(make_tf_dataset(images, 4, seed=12), 6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))
