"""The sample image set: painterly crops of the photographs and paintings that Debian's wallpaper packages install.

    python -m train.sample_data --out data/sample              # 4,000 crops, 256 px JPEG, ~3 minutes on 2 cores
    python -m train.sample_data --out mini --count 32 --size 64 --format png

Why it is built this way:
- The default model must be rebuildable offline by anyone, so its images come from files a package manager installs:
  the photographs and paintings of landscapes, flowers, water and light in four wallpaper packages. The list below is
  chosen by eye; the packages' geometric patterns, logos and vector art (all of gnome-backgrounds and desktop-base,
  most of the newer Plasma wallpapers) are left out, because a GAN learns whatever its set holds and the show's look
  is impressionist: dabs of light and colour, not flat shapes.
- Each source is named by a glob below a root folder ("/" on a real system). A package whose files are all absent is
  reported with the exact install line; the set is built from whatever is present. Passing another root is how the
  tests check the "nothing installed" message without touching the system.
- Crops are 1/6 to 1/2 of a source's short side (log-uniform, so small crops are as common as large ones): close
  enough that a crop holds a passage of light and colour rather than a whole composition. Sources are first shrunk
  so that the smallest crop is exactly the working size: nothing is ever upscaled, and large sources cost no more
  than small ones.
- Near-uniform windows (empty sky, out-of-focus background) and near-black ones (margins, night) are redrawn: of up
  to 20 random windows the first whose luminance varies enough is kept, else the liveliest one tried. The count is
  therefore exact.
- The painterly filter re-paints each crop as brush dabs, coarse to fine, after Hertzmann's "Painterly rendering with
  curved brush strokes of multiple sizes" (SIGGRAPH 1998): an underpainting, then layers of smaller dabs wherever
  the canvas still differs from the photograph. Dabs are short ellipses laid along the contours (across the
  gradient), each with its colour slightly broken, as in Monet's juxtaposed touches; a soft screen-blended halo
  around the brightest passages gives the haze of light scattering in the air. It works at 256 px whatever the
  output size, so a 64 px set shows the same touches, only smaller.
- Every source gets the same share of the crops, each from its own random stream seeded by (seed, its row in the
  table): the set is the same for a seed on any machine and for any number of worker processes.
- Every crop's file name begins with its source's name, and the output folder gets a SOURCES.md with the author and
  licence of every source used: the crops are adaptations, and several licences (CC BY, CC BY-SA) require it.
"""
from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from train.children import pool_guard

# Crops are painted at this size at least; smaller outputs are resized down from it (see the docstring).
WORK_SIZE = 256
CROP_RANGE = (1 / 6, 1 / 2)       # crop side, as a fraction of the source's short side
MIN_SOURCE_SIDE = 720             # smaller files (thumbnails, previews) are not sources
MIN_LUMA_STD = 12.0               # a window whose luminance varies less than this (0..255) is "near-uniform"
MIN_LUMA_MEAN = 28.0              # ... and one darker than this on average is a black margin or night
WINDOW_TRIES = 20
JPEG_QUALITY = 92
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")


class SampleDataError(Exception):
    """The set cannot be built (no source installed, unusable output folder). The message is one line."""


@dataclass(frozen=True)
class Source:
    """One source image: the package that installs it, where (a glob below the root), and whose it is."""
    package: str
    pattern: str      # glob relative to the root; when several files match (resolutions), the largest is used
    name: str         # short unique name, the prefix of its crops' file names
    author: str
    licence: str


_PLASMA = "plasma-workspace-wallpapers"
_PLASMA_LICENCE = "GPL-2+ (Debian copyright); LGPL-3 (upstream metadata)"
_MATE = "mate-backgrounds"
_UKUI = "ukui-wallpapers"
_UKUI_AUTHOR = "Ubuntu Kylin community contributors, 2013-2020"
_LOMIRI = "lomiri-wallpapers-16.04"
_BERASATEGI = "Aitzol Berasategi, 2018"
_FREESPACE = 'Trevor "Freespace", 2018'


def _plasma(folder: str, author: str, licence: str = _PLASMA_LICENCE) -> Source:
    return Source(_PLASMA, f"usr/share/wallpapers/{folder}/contents/images/*", f"plasma-{folder}", author, licence)


def _mate(path: str, author: str, licence: str = "GPL-2+") -> Source:
    return Source(_MATE, f"usr/share/backgrounds/mate/{path}", "mate-" + Path(path).stem, author, licence)


def _ukui(file: str) -> Source:
    return Source(_UKUI, f"usr/share/backgrounds/{file}", "ukui-" + Path(file).stem, _UKUI_AUTHOR, "CC-BY-SA-3.0")


def _lomiri(file: str, author: str, licence: str) -> Source:
    return Source(_LOMIRI, f"usr/share/backgrounds/{file}", "lomiri-" + file.split("_by_")[0], author, licence)


# Authors and licences from /usr/share/doc/<package>/copyright; for Plasma, whose copyright file covers every
# wallpaper with one line, the authors come from each wallpaper's metadata.json (or metadata.desktop).
SOURCES: tuple[Source, ...] = (
    _plasma("Autumn", "RJ Quiralta"),
    _plasma("BytheWater", "Maciej Wiklo"),
    _plasma("ColdRipple", "Risto Saukonpää"),
    _plasma("EveningGlow", "Ian Hex"),
    _plasma("FallenLeaf", "Martin Klapetek"),
    _plasma("Kite", "Risto Saukonpää"),
    _plasma("OneStandsOut", "Risto Saukonpää"),
    _plasma("PastelHills", "Lionel"),
    _plasma("Path", "Risto Saukonpää"),
    _plasma("summer_1am", "Risto Saukonpää"),
    _plasma("Volna", "Nikita Babin", "GPL-2+ (Debian copyright); CC-BY-SA-4.0 (upstream metadata)"),
    _mate("abstract/Elephants_5640x3172.jpg", "Wyng Stancikaite, 2020"),
    _mate("nature/Aqua.jpg", "Charles Barbin, 2008"),
    _mate("nature/Blinds.jpg", "Lennart Poettering, Andrea Cimitan, 2008"),
    _mate("nature/Dune.jpg", "Marco Cogoni, 2007; Hylke Bons, 2008"),
    _mate("nature/FreshFlower.jpg", "Jens Ansorg, 2005"),
    _mate("nature/Garden.jpg", "Charles Barbin, 2008"),
    _mate("nature/GreenMeadow.jpg", "Timothy Schellhase, 2005; Lapo Calamandrei, 2008"),
    _mate("nature/LadyBird.jpg", "Charles Barbin, 2008"),
    _mate("nature/RainDrops.jpg", '"blackcombwhistler07", 2008'),
    _mate("nature/Storm.jpg", "Sergey Nazarov, 2008"),
    _mate("nature/TwoWings.jpg", "Charles Barbin, Hylke Bons, 2008"),
    _mate("nature/Wood.jpg", "Jean-François Fortin Tam, 2008"),
    _mate("nature/YellowFlower.jpg", "Charles Barbin, 2008"),
    _mate("desktop/Ubuntu-Mate-Cold-no-logo.png", "Goce Mitevski, 2014", "CC-BY-SA-4.0"),
    _mate("desktop/Ubuntu-Mate-Warm-no-logo.png", "Goce Mitevski, 2014", "CC-BY-SA-4.0"),
    _mate("desktop/Ubuntu-Mate-Radioactive-no-logo.png", "Goce Mitevski, 2014", "CC-BY-SA-4.0"),
    _ukui("fluent-color.png"),
    _ukui("rhythm.jpg"),
    _ukui("string.jpg"),
    _lomiri("aitzgorri_by_Aitzol_Berasategi.jpg", _BERASATEGI, "CC-BY-4.0"),
    _lomiri("analogpattern_by_Peter_Nerlich.jpg", "Peter Nerlich, 2018", "CC-BY-SA-4.0"),
    _lomiri("Dragonfly_by_Bolly.jpg", '"Bolly", 2018', "CC-BY-SA-4.0"),
    _lomiri("life_by_Aitzol_Berasategi.jpg", _BERASATEGI, "CC-BY-4.0"),
    _lomiri("picosdeeuropa_by_Aitzol_Berasategi.jpg", _BERASATEGI, "CC-BY-4.0"),
    _lomiri("Picture_0B_by_freespace.jpg", _FREESPACE, "CC-BY-4.0"),
    _lomiri("Picture_1A_by_freespace.jpg", _FREESPACE, "CC-BY-4.0"),
    _lomiri("seeding_by_Clements_Engelhardt.jpg", "Clemens Engelhardt, 2018", "CC0-1.0"),
    _lomiri("sunset_by_Aitzol_Berasategi.jpg", _BERASATEGI, "CC-BY-4.0"),
)
PACKAGES: tuple[str, ...] = tuple(dict.fromkeys(s.package for s in SOURCES))


def install_line(packages) -> str:
    return "sudo apt-get install --no-install-recommends " + " ".join(packages)


# ---------------------------------------------------------------------------------------------------------------
# Finding the sources

def find_sources(root="/") -> tuple[list[tuple[int, Source, Path]], list[str]]:
    """The installed sources as (row in SOURCES, source, file), and the packages of which no file was found.

    Raises SampleDataError, naming the packages to install, when nothing at all is found below `root`.
    """
    root = Path(root).resolve()
    found = []
    for row, source in enumerate(SOURCES):
        path = _largest_image(root.glob(source.pattern))
        if path is not None:
            found.append((row, source, path))
    present = {source.package for _, source, _ in found}
    missing = [p for p in PACKAGES if p not in present]
    if not found:
        raise SampleDataError(f"no sample source images found below {root}; install the wallpaper packages: "
                              f"{install_line(PACKAGES)}")
    return found, missing


def _largest_image(paths) -> Path | None:
    """The largest raster image among `paths` (one wallpaper in several resolutions), or None; skips SVG and tiny.

    Symbolic links are resolved: Plasma ships one file under many resolution names, and SOURCES.md should name it.
    """
    best, best_pixels = None, 0
    for path in sorted({p.resolve() for p in paths}):
        if path.suffix.lower() not in IMAGE_SUFFIXES or not path.is_file():
            continue
        try:
            with Image.open(path) as img:      # reads the header only
                w, h = img.size
        except OSError:
            continue
        if min(w, h) >= MIN_SOURCE_SIDE and w * h > best_pixels:
            best, best_pixels = path, w * h
    return best


# ---------------------------------------------------------------------------------------------------------------
# Crops of one source

def load_source(path: Path, work_size: int) -> np.ndarray:
    """Decode a source to RGB uint8, shrunk so that its smallest crop (1/6 of the short side) is `work_size` px."""
    with Image.open(path) as img:
        short = min(img.size)
        scale = min(1.0, work_size / (CROP_RANGE[0] * short))
        target = (round(img.width * scale), round(img.height * scale))
        img.draft("RGB", target)                          # JPEG: decode at a reduced scale when that suffices
        if img.mode in ("RGBA", "LA", "P"):
            img = img.convert("RGBA")
            backdrop = Image.new("RGBA", img.size, (0, 0, 0, 255))
            img = Image.alpha_composite(backdrop, img)
        img = img.convert("RGB")
        if img.size != target:
            img = img.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
        return np.asarray(img)


def liveliness(rgb: np.ndarray) -> float:
    """How much a window's brightness varies (std, 0..255) on a 32 px thumbnail, so that noise does not count;
    0 for windows too dark to hold light and colour."""
    luma = cv2.cvtColor(cv2.resize(rgb, (32, 32), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    return float(luma.std()) if luma.mean() >= MIN_LUMA_MEAN else 0.0


def random_crop(image: np.ndarray, work_size: int, rng: np.random.Generator) -> np.ndarray:
    """A lively square window of `image`, resized to work_size; see the docstring for the rule."""
    h, w = image.shape[:2]
    lo, hi = (math.log(f * min(h, w)) for f in CROP_RANGE)
    best, best_score = None, -1.0
    for _ in range(WINDOW_TRIES):
        side = max(work_size, min(min(h, w), round(math.exp(rng.uniform(lo, hi)))))
        y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
        window = cv2.resize(image[y:y + side, x:x + side], (work_size, work_size), interpolation=cv2.INTER_AREA)
        lively = liveliness(window)
        if lively >= MIN_LUMA_STD:
            return window
        if lively > best_score:
            best, best_score = window, lively
    return best


# ---------------------------------------------------------------------------------------------------------------
# The painterly filter

def paint(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Re-paint a square RGB image as brush dabs, coarse to fine, then add a halo of light (see the docstring)."""
    size = rgb.shape[0]
    photo = _saturate(rgb, 1.15).astype(np.float32)
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gray = cv2.GaussianBlur(gray, (0, 0), size / 128)
    # Strokes follow the contours of the forms, i.e. run across the brightness gradient.
    angle = np.degrees(np.arctan2(cv2.Sobel(gray, cv2.CV_32F, 0, 1), cv2.Sobel(gray, cv2.CV_32F, 1, 0))) + 90.0

    radii = [max(1, size // d) for d in (20, 40, 80)]              # 12, 6, 3 px at 256
    canvas = cv2.GaussianBlur(photo, (0, 0), radii[0]).astype(np.uint8)  # the underpainting
    for layer, r in enumerate(radii):
        target = cv2.GaussianBlur(photo, (0, 0), r / 2)
        error = cv2.blur(np.abs(canvas.astype(np.float32) - target).sum(axis=2), (r, r))
        ys, xs = np.mgrid[r // 2:size:r, r // 2:size:r]
        ys = np.clip(ys + rng.integers(-(r // 2), r // 2 + 1, ys.shape), 0, size - 1).ravel()
        xs = np.clip(xs + rng.integers(-(r // 2), r // 2 + 1, xs.shape), 0, size - 1).ravel()
        if layer > 0:        # finer layers only touch up where the canvas is still wrong
            keep = error[ys, xs] > 18.0
            ys, xs = ys[keep], xs[keep]
        colours = np.clip(target[ys, xs] + rng.normal(0.0, 10.0, (len(ys), 3)), 0, 255)
        lengths = np.maximum(1, (r * rng.uniform(1.2, 2.2, len(ys))).astype(int))
        width = max(1, round(r * 0.6))
        for i in rng.permutation(len(ys)):
            cv2.ellipse(canvas, (int(xs[i]), int(ys[i])), (int(lengths[i]), width), float(angle[ys[i], xs[i]]),
                        0, 360, colours[i].tolist(), -1, cv2.LINE_AA)
    return _glow(canvas)


def _saturate(rgb: np.ndarray, factor: float) -> np.ndarray:
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
    hsv[..., 1] = np.clip(hsv[..., 1] * factor, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)


def _glow(rgb: np.ndarray, strength: float = 0.45) -> np.ndarray:
    """Screen-blend a wide blur of the brightest passages over the image: light spilling into the air around it."""
    f = rgb.astype(np.float32) / 255.0
    bright = f * np.clip((f.mean(axis=2, keepdims=True) - 0.55) / 0.45, 0.0, 1.0)
    halo = cv2.GaussianBlur(bright, (0, 0), rgb.shape[0] / 20)
    return np.round(255.0 * (1.0 - (1.0 - f) * (1.0 - strength * halo))).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# Building the set

def make_source_crops(row: int, source: Source, path: Path, n: int, out: Path, size: int, seed: int,
                      painterly: bool, fmt: str) -> int:
    """Write `n` crops of one source into `out`; returns n. Runs in a worker process."""
    work = max(size, WORK_SIZE)
    rng = np.random.default_rng([seed, row])
    image = load_source(path, work)
    for k in range(n):
        crop = random_crop(image, work, rng)
        if painterly:
            crop = paint(crop, rng)
        if size != work:
            crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
        img = Image.fromarray(crop)
        file = out / f"{source.name}-{k:04d}.{fmt}"
        if fmt == "jpg":
            img.save(file, quality=JPEG_QUALITY)
        else:
            img.save(file, optimize=True)
    return n


def shares(count: int, n_sources: int, seed: int) -> list[int]:
    """An equal share of `count` for each source; the remainder goes to randomly chosen (seeded) sources."""
    base = [count // n_sources] * n_sources
    for i in np.random.default_rng([seed, 1 << 20]).choice(n_sources, count % n_sources, replace=False):
        base[i] += 1
    return base


def build(out, count: int = 4000, size: int = 256, seed: int = 0, painterly: bool = True, fmt: str = "jpg",
          root="/", workers: int | None = None, log=print) -> dict:
    """Build the set into `out` (created; must be empty or absent); returns a summary. Raises SampleDataError.

    `root` is where the packages' files are looked for; `workers` is the number of processes (default: one per core).
    """
    if count < 1 or size < 8:
        raise SampleDataError(f"--count must be at least 1 and --size at least 8, got {count} and {size}")
    if fmt not in ("jpg", "png"):
        raise SampleDataError(f"--format must be jpg or png, got {fmt!r}")
    root, out = Path(root), Path(out)
    found, missing = find_sources(root)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SampleDataError(f"{out} is not an empty folder; choose a new one or empty it first")
    for package in missing:
        n = sum(s.package == package for s in SOURCES)
        log(f"{package} is not installed; its {n} images are left out; install it: {install_line([package])}")

    jobs = [(row, source, path, n, out, size, seed, painterly, fmt)
            for (row, source, path), n in zip(found, shares(count, len(found), seed)) if n]
    workers = workers or min(os.cpu_count() or 1, len(jobs))
    log(f"{len(found)} of {len(SOURCES)} source images found; making {count} crops of {size} px "
        f"({'painterly' if painterly else 'no filter'}, {fmt}) in {workers} processes")
    out.mkdir(parents=True, exist_ok=True)
    start, done, next_report = time.perf_counter(), 0, count / 10
    for n in _run(jobs, workers):
        done += n
        if done >= next_report or done == count:
            log(f"  {done:5d}/{count} crops  {time.perf_counter() - start:6.1f} s")
            next_report += count / 10

    used = [(source, "/" + path.relative_to(root.resolve()).as_posix()) for _, source, path, *_ in jobs]
    settings = f"{count} crops of {size} px, seed {seed}, {'painterly filter' if painterly else 'no filter'}."
    (out / "SOURCES.md").write_text(sources_markdown(used, settings), encoding="utf-8")
    seconds = time.perf_counter() - start
    log(f"wrote {count} crops from {len(used)} source images of {len({s.package for s, _ in used})} packages "
        f"to {out} in {seconds:.0f} s")
    return {"count": count, "sources": len(used), "missing_packages": missing, "seconds": seconds}


def _run(jobs, workers: int):
    """Run make_source_crops over `jobs` in this process or a pool; yield each job's crop count as it finishes."""
    if workers == 1:
        for job in jobs:
            yield make_source_crops(*job)
        return
    # spawn, not fork: the caller may hold TensorFlow's threads, which do not survive a fork. One OpenCV thread per
    # process: the pool already uses every core, more threads would only contend. Each worker ends with us, even
    # after a kill -9 (an orphaned worker would wait on its queue forever).
    initializer, initargs = pool_guard(cv2.setNumThreads, 1)
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=initializer, initargs=initargs) as pool:
        futures = [pool.submit(make_source_crops, *job) for job in jobs]
        try:
            for future in as_completed(futures):
                yield future.result()
        finally:
            for future in futures:       # on an error or Ctrl-C, do not start the remaining sources
                future.cancel()


# ---------------------------------------------------------------------------------------------------------------
# Licences

HOW_IT_IS_MADE = """\
Each image is a random square crop of one source below: 1/6 to 1/2 of the source's short side, so a crop holds a
passage of light and colour rather than a whole composition; near-uniform windows (empty sky, dark margins) are
redrawn. Unless built with `--no-filter`, each crop is re-painted as brush dabs, coarse to fine, with slightly
broken colour and a soft halo around the brightest passages. Every source contributes the same number of crops, and
each crop's file name begins with its source's name. The crops are adaptations of the works below and are
distributed under the licence of their source (GPL-2+, LGPL-3, CC BY 4.0, CC BY-SA 3.0/4.0 or CC0 as listed); the
full licence texts are in each package's copyright file, /usr/share/doc/<package>/copyright.
Rebuild: `python -m train.sample_data --out DIR` (`--help` for the options)."""


def sources_markdown(used, settings: str) -> str:
    """SOURCES.md for a set: what it is, how it is made, and one row per (source, file) with author and licence."""
    rows = "\n".join(f"| {s.name} | {s.package} | {file} | {s.author} | {s.licence} |" for s, file in used)
    return (f"# Sources of the sample image set\n\n{settings}\n\n{HOW_IT_IS_MADE}\n\n"
            f"| name | Debian package | file | author | licence |\n| --- | --- | --- | --- | --- |\n{rows}\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.sample_data", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder to create (must be empty or absent)")
    parser.add_argument("--count", type=int, default=4000, help="number of crops (default 4000)")
    parser.add_argument("--size", type=int, default=256, help="side of each square crop in px (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="the same seed builds the same set (default 0)")
    parser.add_argument("--format", choices=("jpg", "png"), default="jpg", help="jpg (quality 92) or png")
    parser.add_argument("--no-filter", action="store_true", help="plain crops, without the painterly filter")
    args = parser.parse_args(argv)
    try:
        build(args.out, args.count, args.size, args.seed, not args.no_filter, args.format)
    except SampleDataError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
