"""How good is a generator, measured without any pretrained network.

FID and friends need an Inception network that cannot be downloaded here, so every figure below is computed from
pixels alone, in numpy:

- sliced Wasserstein distance (SWD) on Laplacian-pyramid patches, as in Progressive GAN: do generated images have
  the real images' textures and colours, at every scale?
- memorisation: are samples as far from the training images as the training images (blurred to the samples'
  sharpness, so blur does not pass for copying) are from each other, or is the generator handing back copies?
- distinctness: are the 196 tiles of one grid different pictures, or has the generator collapsed onto a few?
- interpolation smoothness: does a walk through latent space glide, or does it jump?

    python -m train evaluate MODEL --data DIR [--samples N] [--seed S] [--psi P] [--json PATH]
    python -m train evaluate fresh --data DIR --resolution 64     # an untrained generator: the ceiling
    python -m train evaluate --split-real --data DIR              # half the real set against the other: the floor
"""
import argparse
import json
import math
import sys
from pathlib import Path

import cv2
import numpy as np

import model
from train import data

MAX_SAMPLES = 2000
GRID_TILES = 196  # the exhibit's 14x14 grid


# ---------------------------------------------------------------------------------------------------------------
# Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al. 2018, "Progressive Growing of GANs").
# Their code built the pyramid with a numpy copy of cv2.pyrDown/pyrUp; here it is OpenCV itself.

def _pyr_down(images):
    """Half the resolution: a 5x5 Gaussian blur away what the coarser grid cannot hold, every second pixel kept."""
    return np.stack([cv2.pyrDown(im) for im in images])


def _pyr_up(images, shape):
    """Double the resolution to `shape` [N, H, W, C]: pixels spread out by the same 5x5 Gaussian."""
    return np.stack([cv2.pyrUp(im, dstsize=(shape[2], shape[1])) for im in images])


def laplacian_pyramid(images, min_size=16):
    """Band-pass levels from full resolution down to min_size px; the last level is the blurred residual.

    Each level holds only the detail of its own scale, so a patch statistic per level compares fine brush
    texture, mid-scale shapes and coarse colour layout separately.
    """
    levels = [images.astype(np.float32)]
    while levels[-1].shape[1] // 2 >= min_size:
        levels.append(_pyr_down(levels[-1]))
        levels[-2] = levels[-2] - _pyr_up(levels[-1], levels[-2].shape)
    return levels


def _patch_descriptors(level, per_image, rng, size=7):
    """per_image random size x size neighbourhoods of every image of one pyramid level, [N*per_image, size, size, C]."""
    n, h, w, _ = level.shape
    r = size // 2
    image = np.repeat(np.arange(n), per_image)[:, None, None]
    y = rng.integers(r, h - r, size=n * per_image)[:, None, None] + np.arange(-r, r + 1)[None, :, None]
    x = rng.integers(r, w - r, size=n * per_image)[:, None, None] + np.arange(-r, r + 1)[None, None, :]
    return level[image, y, x]


def _normalise(descriptors):
    """Zero mean, unit variance per colour channel over all descriptors of one set, then flatten to vectors.

    Done for real and fake separately, as in the paper code, so each level counts alike whatever its amplitude.
    The price: SWD is blind to a colour cast or a contrast change over a whole set. The memorisation ratio
    (above 1) and the contact sheet catch those.
    """
    d = descriptors   # in place: at 2000 images a level's patches take 150 MB
    d -= d.mean(axis=(0, 1, 2), keepdims=True)
    d /= d.std(axis=(0, 1, 2), keepdims=True) + 1e-8
    return d.reshape(len(d), -1)


def _sliced_distance(a, b, rng, repeats, directions):
    """Mean 1-D Wasserstein distance between two equal-sized point clouds, over random unit directions.

    In one dimension the optimal transport pairs the sorted values, so a projection plus a sort is exact; averaging
    over many directions approximates the distance between the full 147-D distributions.
    """
    results = []
    for _ in range(repeats):
        dirs = rng.standard_normal((a.shape[1], directions)).astype(np.float32)
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        # [directions, points], contiguous per direction: sorting along the last axis is ten times faster.
        pa, pb = dirs.T @ a.T, dirs.T @ b.T
        pa.sort(axis=1)
        pb.sort(axis=1)
        results.append(float(np.mean(np.abs(pa - pb))))
    return float(np.mean(results))


def _level_descriptors(images, rng, per_image, min_size, chunk=250):
    """Normalised patch descriptors of every pyramid level of a set, [levels][N * per_image, 7*7*3].

    The pyramid is built a chunk of images at a time, so 2000 images at 256 px never sit in memory as float
    pyramids all at once; only the patches are kept.
    """
    per_chunk = []
    for start in range(0, len(images), chunk):
        levels = laplacian_pyramid(images[start:start + chunk], min_size)
        per_chunk.append([_patch_descriptors(level, per_image, rng) for level in levels])
    return [_normalise(np.concatenate(parts)) for parts in zip(*per_chunk)]


def sliced_wasserstein(real, fake, seed=0, patches_per_image=128, repeats=4, directions=128, min_size=16):
    """Progressive GAN's SWD between two uint8 image sets [N, H, W, 3], per pyramid level (x1e3) and averaged.

    Lower is closer. The larger set is subsampled to the size of the smaller, because the sorted-projection
    distance pairs points one to one. The figure depends on the number of images (fewer images, noisier patches,
    a higher floor), so compare models at the same --samples and read it beside the real-vs-real floor.
    Deterministic for a seed.
    """
    if real.shape[1:] != fake.shape[1:]:
        raise ValueError(f"image sets differ in size: {list(real.shape[1:])} vs {list(fake.shape[1:])}")
    rng = np.random.default_rng(seed)
    n = min(len(real), len(fake))
    if n < 1:
        raise ValueError("sliced_wasserstein needs at least one image in each set")
    real = real[np.sort(rng.choice(len(real), n, replace=False))] if len(real) > n else real
    fake = fake[np.sort(rng.choice(len(fake), n, replace=False))] if len(fake) > n else fake
    real_levels = _level_descriptors(real, rng, patches_per_image, min_size)
    fake_levels = _level_descriptors(fake, rng, patches_per_image, min_size)
    distances = [_sliced_distance(a, b, rng, repeats, directions) * 1e3 for a, b in zip(real_levels, fake_levels)]
    resolutions = [real.shape[1] >> k for k in range(len(distances))]
    return {"swd": float(np.mean(distances)), "levels": distances, "resolutions": resolutions, "images": n}


# ---------------------------------------------------------------------------------------------------------------
# Nearest neighbours in pixel space

def _thumbnails(images, size=32):
    """Images as vectors of [0, 1] pixels at size x size: small enough to compare thousands, big enough to tell
    two pictures apart. Area averaging, so a shift by a pixel or a bit of noise barely moves them."""
    if images.shape[1] != size:
        images = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])
    return images.reshape(len(images), -1).astype(np.float32) / 255


def _rms_distances(a, b, chunk=512):
    """Root-mean-square pixel difference between every row of a and every row of b, [len(a), len(b)], in [0, 1].

    |a|^2 + |b|^2 - 2ab turns the work into one matrix product; float64, because in float32 the cancellation
    leaves identical images about 1e-4 apart, as far as two real photos can be.
    """
    a, b = a.astype(np.float64), b.astype(np.float64)
    b_sq = np.sum(b ** 2, axis=1)
    out = np.empty((len(a), len(b)), np.float32)
    for start in range(0, len(a), chunk):
        part = a[start:start + chunk]
        sq = np.sum(part ** 2, axis=1)[:, None] + b_sq[None, :] - 2 * (part @ b.T)
        out[start:start + chunk] = np.sqrt(np.maximum(sq, 0) / a.shape[1])
    return out


# Gaussian blurs, in pixels of the 32 px thumbnails, tried to match the real images' sharpness to the samples'.
BLUR_SIGMAS = (0.0, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0, 6.0)


def _blur(thumbs, sigma, size=32):
    """Thumbnail vectors [N, size*size*3] blurred by a Gaussian of `sigma` px, as vectors again."""
    if sigma == 0:
        return thumbs
    images = thumbs.reshape(-1, size, size, 3)
    return np.stack([cv2.GaussianBlur(im, (0, 0), sigma) for im in images]).reshape(len(thumbs), -1)


def _fine_detail(thumbs):
    """Mean squared difference between thumbnails and their 1 px blur: how much fine detail (texture) a set has."""
    return float(np.mean((thumbs - _blur(thumbs, 1.0)) ** 2))


def memorisation(fake, real):
    """Distance of each sample to its nearest training image, against the same for training images among themselves.

    A generator that copies its training set puts samples right on top of training images: fake-to-real nearest
    distances far below the real-to-real ones (each real image against all the others, leaving itself out).
    ratio = median(fake_nn) / median(real_nn): about 1 is healthy, much below 1 is copying, above 1 means samples
    are unlike any training image (an undertrained model, or one that drifted). Distances are RMS in [0, 1] pixels
    on 32 px thumbnails.

    Blur would pass for copying in pixel space: a blurry sample lacks the fine detail that adds to every distance
    between two sharp images, so it sits nearer to all of them. The real-to-real baseline is therefore taken with
    the real images blurred to the samples' sharpness (of BLUR_SIGMAS, the Gaussian whose result has the fine detail
    closest to the samples'; none for samples as sharp as the real images): a blurry new picture reads about 1, a
    copy, sharp or blurred, still reads far below 1. `sharp_real_nn_median` is the unblurred baseline, for reference.
    """
    if len(real) < 2:
        raise ValueError("memorisation needs at least two real images (real-to-real leaves one out)")
    f, r = _thumbnails(fake), _thumbnails(real)
    fake_nn = _rms_distances(f, r).min(axis=1)
    detail = _fine_detail(f)
    sigma = min(BLUR_SIGMAS, key=lambda s: abs(_fine_detail(_blur(r, s)) - detail))

    def real_nn(blurred):
        distances = _rms_distances(blurred, r)
        np.fill_diagonal(distances, np.inf)
        return float(np.median(distances.min(axis=1)))

    sharp_median = real_nn(r)
    fake_median, real_median = float(np.median(fake_nn)), (real_nn(_blur(r, sigma)) if sigma else sharp_median)
    return {"fake_nn_median": fake_median, "real_nn_median": real_median, "baseline_blur_px": sigma,
            "sharp_real_nn_median": sharp_median,
            "ratio": fake_median / real_median if real_median > 0 else math.inf}


def _pair_distances(images):
    """RMS distance of every unordered pair of images (32 px thumbnails), as a flat array."""
    thumbs = _thumbnails(images)
    return _rms_distances(thumbs, thumbs)[np.triu_indices(len(thumbs), k=1)]


def distinctness(tiles, real, seed=0):
    """Share of tile pairs of one grid that are closer to each other than the closest pair of real images.

    Mode collapse turns a grid of 196 pictures into repeats of a few; repeats are closer than any two real images
    can be, so the share climbs from 0 toward 1. The bar is the closest pair among as many real images as there
    are tiles (a seeded choice): the closest of 2 million pairs in a big folder would sit far lower than the
    closest of a grid's 19,110, and let a half-collapsed grid pass. Real pairs that are identical after
    downscaling (the same file twice) are left out of the bar, which would otherwise sit at 0 and hide any
    collapse.
    """
    if len(tiles) < 2 or len(real) < 2:
        raise ValueError("distinctness needs at least two tiles and two real images")
    if len(real) > len(tiles):
        real = real[np.sort(np.random.default_rng(seed).choice(len(real), len(tiles), replace=False))]
    tile_pairs, real_pairs = _pair_distances(tiles), _pair_distances(real)
    real_pairs = real_pairs[real_pairs > 1e-4]
    closest_real = float(real_pairs.min()) if real_pairs.size else 0.0
    return {"close_share": float(np.mean(tile_pairs < closest_real)), "closest_real_pair": closest_real,
            "closest_tile_pair": float(tile_pairs.min()), "median_tile_pair": float(np.median(tile_pairs)),
            "tiles": len(tiles)}


# ---------------------------------------------------------------------------------------------------------------
# Interpolation smoothness

def interpolation_smoothness(generator, seed, paths=8, steps=32, psi=1.0):
    """Largest pixel change between consecutive steps of a latent walk, relative to the mean change of that walk.

    The exhibit glides each tile along slerp paths; a generator whose image jumps somewhere along the way shows a
    cut instead of a drift. Per path: max over steps of the mean absolute pixel change, divided by the mean over
    steps. 1 means perfectly even motion, a few is normal easing, much larger is a jump. A path along which nothing
    changes at all counts as even (1). Reports the worst path and the median path.
    """
    ends = model.seeded_latents(seed, 2 * paths, generator.z_dim)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    z = model.slerp(ends[:paths, None, :], ends[paths:, None, :], t).reshape(paths * steps, generator.z_dim)
    images = generator.generate(z, psi=psi).astype(np.float32) / 255
    images = images.reshape(paths, steps, -1)
    changes = np.mean(np.abs(np.diff(images, axis=1)), axis=2)  # [paths, steps - 1]
    mean = changes.mean(axis=1)
    ratios = np.where(mean > 0, changes.max(axis=1) / np.maximum(mean, 1e-12), 1.0)
    return {"max_over_mean": float(ratios.max()), "median_over_paths": float(np.median(ratios)),
            "mean_step_change": float(mean.mean()), "paths": paths, "steps": steps}


# ---------------------------------------------------------------------------------------------------------------
# Command line

def _positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {text}")
    return value


def _finite_float(text):
    value = float(text)
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def _parser():
    p = argparse.ArgumentParser(
        prog="python -m train evaluate",
        description="Quality figures for a generator against a folder of real images, from pixels alone.")
    p.add_argument("model", nargs="?", metavar="MODEL",
                   help="generator file, or 'fresh' for an untrained one; not needed with --split-real")
    p.add_argument("--data", required=True, metavar="DIR", help="folder of real images (the training set)")
    p.add_argument("--samples", type=_positive_int, default=None, metavar="N",
                   help=f"generated images to compare (default: as many as real images, at most {MAX_SAMPLES})")
    p.add_argument("--seed", type=int, default=0, help="seed for latents, patches and projections (default 0)")
    p.add_argument("--psi", type=_finite_float, default=1.0, help="truncation: 1 = none, <1 = toward the average image")
    p.add_argument("--resolution", type=_positive_int, default=64,
                   help="image size for 'fresh' and --split-real without a model (default 64)")
    p.add_argument("--split-real", action="store_true",
                   help="compare one half of the real set with the other: the best figures a model can hope for "
                        "(compare a model with it at --samples of half the real images)")
    p.add_argument("--json", type=Path, metavar="PATH", help="also write every figure to this JSON file")
    return p


class _Failure(Exception):
    """A user-facing problem: printed as one line, exit status 2."""


def _load_generator(name, resolution, seed):
    """The generator to judge: a file, or 'fresh' for a newly initialised one (where every training starts)."""
    if name == "fresh":
        return model.new_generator(resolution=resolution, seed=seed)
    try:
        return model.load_generator(name)
    except model.ModelFileError as e:
        raise _Failure(e) from None


def _load_real(folder, resolution, min_images):
    try:
        return data.load_dataset(folder, resolution=resolution, min_images=min_images).images
    except data.DataError as e:
        raise _Failure(e) from None


def _generate(generator, n, seed, psi, batch=GRID_TILES):
    """n images from the seeded latents, in batches so memory stays flat."""
    z = model.seeded_latents(seed, n, generator.z_dim)
    # Each sample its own grain (noise index), as each tile of the exhibit has.
    return np.concatenate([generator.generate(z[i:i + batch], psi=psi, noise=np.arange(i, min(i + batch, n)))
                           for i in range(0, n, batch)])


def evaluate(args):
    """All four figures as one dict (the JSON written by --json)."""
    if args.model is None and not args.split_real:
        raise _Failure("give a MODEL (a generator file or 'fresh'), or --split-real for the real-vs-real floor")
    if not Path(args.data).is_dir():   # before loading a model, which can take a while
        raise _Failure(f"data folder not found: {args.data}")
    generator = None if args.model is None else _load_generator(args.model, args.resolution, args.seed)
    resolution = generator.resolution if generator else args.resolution
    real = _load_real(args.data, resolution, min_images=4 if args.split_real else 2)  # two in each half
    report = {"model": "real (held-out half)" if args.split_real else args.model, "data": str(args.data),
              "resolution": resolution, "seed": args.seed, "psi": args.psi, "folder_images": len(real)}

    if args.split_real:
        # A seeded shuffle first: folders are often ordered by source, and halves of different sources would
        # measure the difference between sources, not the noise floor of the metric.
        order = np.random.default_rng(args.seed).permutation(len(real))
        half = len(real) // 2
        fake, real = real[order[:half]], real[order[half:]]
        if args.samples:
            fake = fake[:args.samples]
        tiles = fake[:GRID_TILES]
    else:
        n = args.samples or min(len(real), MAX_SAMPLES)
        fake = _generate(generator, n, args.seed, args.psi)
        tiles = fake[:GRID_TILES] if n >= GRID_TILES else _generate(generator, GRID_TILES, args.seed, args.psi)

    report["samples"], report["real_images"] = len(fake), len(real)
    report["sliced_wasserstein"] = sliced_wasserstein(real, fake, seed=args.seed)
    report["memorisation"] = memorisation(fake, real)
    report["distinctness"] = distinctness(tiles, real, seed=args.seed)
    report["smoothness"] = (interpolation_smoothness(generator, args.seed, psi=args.psi)
                            if generator and not args.split_real else None)
    return report


def _format(report):
    """A short table for a person, then one key=value line for scripts."""
    swd, mem, dist, smooth = (report[k] for k in ("sliced_wasserstein", "memorisation", "distinctness",
                                                   "smoothness"))
    levels = ", ".join(f"{r} px {v:.2f}" for r, v in zip(swd["resolutions"], swd["levels"]))
    smooth_text = (f"{smooth['max_over_mean']:.2f} worst path, {smooth['median_over_paths']:.2f} median "
                   f"(1 = even; large = a jump)" if smooth else "n/a (no generator)")
    lines = [
        f"{report['model']}: {report['samples']} images against {report['real_images']} real ones "
        f"({report['folder_images']} in {report['data']}), {report['resolution']} px, seed {report['seed']}, "
        f"psi {report['psi']}",
        f"  SWD x1e3 (lower is closer)   {swd['swd']:.2f}   [{levels}]",
        f"  memorisation ratio           {mem['ratio']:.3f}   (nearest training image {mem['fake_nn_median']:.4f} "
        f"vs real-to-real {mem['real_nn_median']:.4f} with reals blurred to the samples' sharpness, "
        f"{mem['baseline_blur_px']:g} px at 32 px; ~1 healthy, <<1 copying)",
        f"  tile pairs closer than reals {dist['close_share']:.4f}   (of {dist['tiles']} tiles; closest tile pair "
        f"{dist['closest_tile_pair']:.4f}, closest real pair {dist['closest_real_pair']:.4f})",
        f"  interpolation max/mean step  {smooth_text}",
        " ".join([f"swd={swd['swd']:.4f}",
                  "swd_levels=" + ",".join(f"{v:.4f}" for v in swd["levels"]),
                  f"memorisation_ratio={mem['ratio']:.4f}",
                  f"distinct_close_share={dist['close_share']:.4f}",
                  f"smoothness_max_over_mean={smooth['max_over_mean']:.4f}" if smooth
                  else "smoothness_max_over_mean=nan"]),
    ]
    return "\n".join(lines)


def main(argv):
    """python -m train evaluate ...: prints the table and the key=value line; 2 on bad input."""
    args = _parser().parse_args(argv)
    try:
        report = evaluate(args)
    except _Failure as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(_format(report))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


