"""The training images: a folder on disk in, a uint8 array and an endless tf.data stream out.

Why it is built this way:
- Everything is decoded once, up front, into one uint8 array [N, R, R, 3]. Artists bring 100 to 2,000 images;
  at 256 px even 2,000 of them are 393 MB, so they fit in memory, and training then never touches the disk.
  That array *is* the cache: tf.data only shuffles, flips and prefetches it, with no `.cache()` step that would
  hold a second copy.
- Nothing is ever written to the data folder (no thumbnails, no cache files): it is the artist's, and may be
  read-only or shared.
- Bad files never stop training. Each one is skipped and listed once, at start, with its name and the reason, so
  the artist can fix or remove it. Only "too few usable images" and "no such folder" stop the run, with one line
  saying what to do.
- Pillow reads every format an artist's folder holds. Modes are brought to 8-bit RGB deliberately: 16-bit and
  float images are scaled by their range with numpy (Pillow's own conversion clips them, turning most of a 16-bit
  scan white); transparency is composited on a chosen background (dropping alpha would expose whatever colour
  the invisible pixels happen to hold); CMYK goes through Pillow's conversion; the EXIF orientation is applied,
  so a phone portrait is not trained on its side. ICC profiles are not applied: most images an artist gathers
  are sRGB or close to it, and converting each one through a colour engine would slow loading for little gain.
- Each image is centre-cropped to a square (the model's tiles are square; padding would teach it borders) and
  resized with Lanczos, in one `resize(box=...)` call. `reducing_gap` first shrinks large images by an integer
  factor with a box filter, which is much faster than Lanczos over millions of pixels and visually the same.
  JPEGs are additionally decoded at 1/2, 1/4 or 1/8 scale with `draft()` when they are still at least R px on
  each side: a 24 MP photo then costs a fraction of a full decode. Images smaller than R are upscaled, not
  skipped (a small dataset cannot spare them), and the log says how many.
- Decoding runs on a thread pool: Pillow releases the GIL while decoding and resizing, so threads scale across
  cores without the start-up cost and memory copies of processes.
- Huge images: Pillow's decompression-bomb limit stays as it is (it refuses images over ~179 megapixels, which
  admits every camera photo, e.g. 12000x8000 = 96 MP or a 150 MP medium-format frame). Its warning above
  ~89 MP is silenced, because such photos are legitimate here; anything over the hard limit is skipped with a
  reason ("downsize it") rather than risking gigabytes of memory per decoding thread.
- The folder is scanned recursively, in sorted order, so the same folder always yields the same array.
  Hidden files and folders (".DS_Store", "._photo.jpg" from macOS, ".git") are ignored silently; other
  non-image files are ignored and counted once in the log, which catches e.g. a folder of .heic photos.
  Symlinked files are read; symlinked folders are not followed (a link loop would never end).
"""
from __future__ import annotations

import os
import time
import warnings
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")

# Legitimate large photos sit between Pillow's warning (~89 MP) and its hard limit (~179 MP); see the docstring.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


class DataError(Exception):
    """The data folder cannot be trained on (missing, or too few usable images). The message is one line."""


class UnreadableImage(Exception):
    """One file could not be used; str(error) is the reason, phrased for the artist."""


@dataclass
class Dataset:
    images: np.ndarray                                   # uint8 [N, R, R, 3]
    paths: list[Path]                                    # relative to the data folder, same order as images
    skipped: list[tuple[Path, str]] = field(default_factory=list)   # (relative path, reason)
    name: str = ""                                       # the data folder's name, recorded in the model file

    def __len__(self) -> int:
        return len(self.images)


# ---------------------------------------------------------------------------------------------------------------
# One image

def load_image(path, resolution: int, background=(255, 255, 255)) -> np.ndarray:
    """Decode one file into uint8 [resolution, resolution, 3]; raise UnreadableImage(reason) if it cannot be used."""
    return _decode(Path(path), resolution, _check_background(background))[0]


def _decode(path: Path, resolution: int, background: tuple[int, int, int]) -> tuple[np.ndarray, int]:
    """Returns the image and the short side of the original, so the caller can count upscaled images."""
    try:
        if path.stat().st_size == 0:
            raise UnreadableImage("empty file (0 bytes)")
        with Image.open(path) as img:
            source_side = min(img.size)
            img.draft("RGB", (resolution, resolution))   # JPEG: DCT-domain downscale, never below R; others: no-op
            img = ImageOps.exif_transpose(img)               # also loads: truncated data fails here
            img = _to_rgb(img, background)
            return _square(img, resolution), source_side
    except UnreadableImage:
        raise
    except UnidentifiedImageError:
        raise UnreadableImage("not an image Pillow can read (wrong extension, or an unsupported format)") from None
    except Image.DecompressionBombError:
        raise UnreadableImage(f"too large to decode safely (over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} "
                              "megapixels): downsize it") from None
    except (PermissionError, FileNotFoundError) as e:
        raise UnreadableImage(f"cannot open it ({e.strerror})") from None
    except (OSError, EOFError) as e:
        raise UnreadableImage(f"truncated or corrupt image data ({e})") from None
    except Exception as e:   # Pillow's parsers raise almost anything on corrupt data; one bad file must not stop training
        raise UnreadableImage(f"cannot decode ({type(e).__name__}: {e})") from None


def _to_rgb(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Any Pillow mode -> 8-bit RGB. Transparency is composited on `background`."""
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        img = Image.fromarray(_high_bit_depth_to_8bit(np.asarray(img)), "L")
    if img.has_transparency_data:        # RGBA, LA, PA, or a palette/grey/RGB image with a transparent colour
        base = Image.new("RGBA", img.size, (*background, 255))
        return Image.alpha_composite(base, img.convert("RGBA")).convert("RGB")
    return img.convert("RGB")


def _high_bit_depth_to_8bit(a: np.ndarray) -> np.ndarray:
    """16-bit, 32-bit integer and float greyscale -> uint8, scaled by the range the values were stored in.

    uint16 data spans 0..65535. 32-bit integer and float files do not say their range, so it is read from the data:
    floats within 0..1 are taken as 0..1, values within 0..255 as 8-bit, within 0..65535 as 16-bit, anything larger
    is scaled to its maximum.
    """
    values = np.nan_to_num(a.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    peak = float(values.max()) if values.size else 0.0
    if a.dtype.kind == "u" and a.dtype.itemsize == 2:
        full = 65535.0
    elif a.dtype.kind == "f" and peak <= 1.0:
        full = 1.0
    elif peak <= 255:
        full = 255.0
    elif peak <= 65535:
        full = 65535.0
    else:
        full = peak
    scaled = np.clip(values * (255.0 / full), 0, 255)
    return np.rint(scaled).astype(np.uint8)


def _square(img: Image.Image, resolution: int) -> np.ndarray:
    """Centre-crop to a square and resize to resolution x resolution, in one resampling pass."""
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) / 2, (h - side) / 2
    box = (left, top, left + side, top + side)
    out = img.resize((resolution, resolution), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    return np.asarray(out, dtype=np.uint8).copy()


def _check_background(background) -> tuple[int, int, int]:
    bg = tuple(int(c) for c in background)
    if len(bg) != 3 or not all(0 <= c <= 255 for c in bg):
        raise ValueError(f"background must be three integers 0..255 (r, g, b), got {background!r}")
    return bg


# ---------------------------------------------------------------------------------------------------------------
# A folder

def find_images(root: Path) -> tuple[list[Path], Counter]:
    """Image files under root (relative, sorted), and a count of other files by extension.

    Hidden files and folders are skipped silently: they are system clutter, not the artist's images.
    """
    found, others = [], Counter()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in filenames:
            if name.startswith("."):
                continue
            path = Path(dirpath, name).relative_to(root)
            if path.suffix.lower() in IMAGE_EXTENSIONS:
                found.append(path)
            else:
                others[path.suffix.lower() or "(no extension)"] += 1
    return sorted(found, key=lambda p: p.parts), others


def load_dataset(root, resolution: int, min_images: int = 1, background=(255, 255, 255),
                 log: Callable[[str], None] = print) -> Dataset:
    """Decode every usable image under `root` to uint8 [N, resolution, resolution, 3].

    Unusable files are skipped and listed through `log`; DataError if the folder is missing or fewer than
    `min_images` images are usable.
    """
    root = Path(root)
    if not root.exists():
        raise DataError(f"data folder not found: {root}")
    if not root.is_dir():
        raise DataError(f"data folder is not a directory: {root}")
    if int(resolution) < 1:
        raise ValueError(f"resolution must be a positive number of pixels, got {resolution!r}")
    resolution, background = int(resolution), _check_background(background)

    start = time.perf_counter()
    files, others = find_images(root)

    def decode(rel: Path):
        try:
            return _decode(root / rel, resolution, background)
        except UnreadableImage as e:
            return str(e)

    # Rows are filled in scan order as results arrive (map keeps order), so no second full-size copy is made.
    images = np.empty((len(files), resolution, resolution, 3), np.uint8)
    paths, skipped, upscaled = [], [], []
    workers = min(16, (os.cpu_count() or 1) + 2)   # a few extra threads hide file-system latency
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        for rel, result in zip(files, pool.map(decode, files)):
            if isinstance(result, str):
                skipped.append((rel, result))
                continue
            pixels, source_side = result
            images[len(paths)] = pixels
            paths.append(rel)
            if source_side < resolution:
                upscaled.append(rel)
    images = images[:len(paths)]

    if skipped:
        log(f"skipped {len(skipped)} of {len(files)} files:")
        for rel, reason in skipped:
            log(f"  {rel.as_posix()}: {reason}")
    if others:
        kinds = ", ".join(f"{n} {ext}" for ext, n in sorted(others.items()))
        log(f"ignored {sum(others.values())} files that are not {'/'.join(IMAGE_EXTENSIONS)} ({kinds})")
    if upscaled:
        noun = "image" if len(upscaled) == 1 else "images"
        log(f"upscaled {len(upscaled)} {noun} smaller than {resolution} px, e.g. {upscaled[0].as_posix()} "
            "(larger originals give sharper results)")
    if len(paths) < min_images:
        raise DataError(f"only {len(paths)} usable images in {root} (need at least {min_images}): "
                        "add images or lower data.min_images")
    log(f"loaded {len(paths)} images from {root} at {resolution}x{resolution} "
        f"in {time.perf_counter() - start:.1f} s")
    return Dataset(images=images, paths=paths, skipped=skipped, name=root.resolve().name)


# ---------------------------------------------------------------------------------------------------------------
# The training stream

def make_tf_dataset(images: np.ndarray, global_batch_size: int, seed: int = 0, mirror: bool = True):
    """An endless tf.data.Dataset of float32 [global_batch_size, R, R, 3] batches in [-1, 1].

    Reshuffled every epoch from `seed`; with `mirror`, each image is flipped left-right with probability 1/2 (a
    free doubling of a small dataset that keeps its content). The flip is drawn from a stateless generator keyed
    by (seed, batch number), so the stream is the same on every run and every worker. `repeat` comes before
    `batch`, so a dataset smaller than one batch still fills every batch, and no batch is ever short.
    """
    import tensorflow as tf   # here, not at the top: scanning and decoding images does not need TensorFlow

    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3 or images.shape[1] != images.shape[2]:
        raise ValueError(f"images must be uint8 [N, R, R, 3], got {images.dtype} {list(images.shape)}")
    if len(images) == 0 or global_batch_size < 1:
        raise ValueError(f"need at least one image and a batch size of at least 1 "
                         f"(got {len(images)} images, batch {global_batch_size})")

    def to_float(index, batch):
        if mirror:   # flipped while still uint8: a quarter of the bytes to move
            coin = tf.random.stateless_uniform([global_batch_size], seed=tf.stack([tf.cast(seed, tf.int64), index]))
            batch = tf.where((coin < 0.5)[:, None, None, None], tf.reverse(batch, axis=[2]), batch)
        return tf.cast(batch, tf.float32) / 127.5 - 1.0

    ds = tf.data.Dataset.from_tensor_slices(images)
    ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True).repeat()
    ds = ds.batch(global_batch_size, drop_remainder=True)
    ds = tf.data.Dataset.zip(tf.data.Dataset.counter(), ds)
    ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # Several machines: each builds this same stream from the same seed and takes its own share of every batch.
    # There are no files to split between them, so say so rather than let tf.data try and warn.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
