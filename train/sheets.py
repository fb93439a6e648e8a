"""Pictures of a model for people: sample sheets, a contact sheet and an interpolation strip, as PNG."""
import numpy as np
from PIL import Image, ImageDraw, ImageFont

import model
from model import atomic


def grid(images, columns, gap=2, background=16):
    """Tile uint8 images [N, H, W, 3] into one image, `columns` wide, with a thin dark gap like the exhibit's gutter."""
    n, h, w, _ = images.shape
    rows = -(-n // columns)
    sheet = np.full((rows * (h + gap) + gap, columns * (w + gap) + gap, 3), background, np.uint8)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        sheet[gap + r * (h + gap):gap + r * (h + gap) + h, gap + c * (w + gap):gap + c * (w + gap) + w] = image
    return sheet


def save_png(array, path):
    """Write uint8 [H, W, 3] as a PNG, through a temporary name, so a kill never leaves half a picture."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic.replacing(path) as temporary:
        Image.fromarray(array).save(temporary, format="PNG")
    return path


LABEL_HEIGHT = 20   # pixels of the caption bar above a sample sheet


def _font(size=14):
    return ImageFont.load_default(size=size)   # Pillow's bundled font: the same everywhere, nothing to install


def labelled(sheet, text, background=16):
    """The sheet uint8 [H, W, 3] with a caption bar of LABEL_HEIGHT px above it holding `text` (e.g. "step 500")."""
    bar = Image.new("RGB", (sheet.shape[1], LABEL_HEIGHT), (background,) * 3)
    ImageDraw.Draw(bar).text((4, 2), text, fill=(235, 235, 235), font=_font())
    return np.concatenate([np.asarray(bar), sheet])


def progress_strip(sheet_paths, resolution, columns=8, max_rows=48, gap=2, background=16):
    """RUN_DIR/progress.png: the first row of every sample sheet, oldest on top, each captioned with its step.

    The sample sheets always draw the same latents, so reading down one column shows one picture forming.
    sheet_paths: PNGs written by `labelled(grid(...))` (named step-N.png); more than max_rows are thinned to evenly
    spaced ones, the first and the latest always kept. Returns uint8 [H, W, 3].
    """
    paths = sorted(sheet_paths)
    if len(paths) > max_rows:
        paths = [paths[round(i)] for i in np.linspace(0, len(paths) - 1, max_rows)]
    caption = 72   # px of step number left of each row
    row_height = resolution + gap
    width = caption + columns * (resolution + gap) + gap
    strip = np.full((len(paths) * row_height + gap, width, 3), background, np.uint8)
    canvas = Image.new("RGB", (caption, len(paths) * row_height + gap), (background,) * 3)
    draw = ImageDraw.Draw(canvas)
    for i, path in enumerate(paths):
        sheet = np.asarray(Image.open(path).convert("RGB"))
        # The caption bar's height is whatever the sheet has above its 8 rows of tiles (0 for unlabelled sheets).
        top = sheet.shape[0] - (8 * (resolution + gap) + gap)
        tiles = sheet[top + gap:top + gap + resolution, gap:gap + columns * (resolution + gap)]
        y = gap + i * row_height
        strip[y:y + resolution, caption + gap:caption + gap + tiles.shape[1]] = tiles
        step = int(path.stem.split("-")[-1])
        draw.text((4, y + max(resolution // 2 - 8, 0)), f"{step:,}", fill=(235, 235, 235), font=_font(13))
    strip[:, :caption] = np.asarray(canvas)
    return strip


def interpolation_images(generator, seed, rows=6, steps=12, psi=1.0):
    """`rows` slerp walks between seeded latents, `steps` images each: shows whether the latent space is smooth."""
    ends = model.seeded_latents(seed, rows * 2, generator.z_dim)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    z = model.slerp(ends[0::2, None, :], ends[1::2, None, :], t).reshape(-1, generator.z_dim)
    noise = np.repeat(np.arange(rows), steps)   # each walk keeps its grain, as a tile does in the exhibit
    return generator.generate(z, psi=psi, noise=noise), steps
