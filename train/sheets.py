"""Pictures of a model for people: sample sheets, a contact sheet and an interpolation strip, as PNG."""
import numpy as np
from PIL import Image

import model


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
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)
    return path


def interpolation_images(generator, seed, rows=6, steps=12, psi=1.0):
    """`rows` slerp walks between seeded latents, `steps` images each: shows whether the latent space is smooth."""
    ends = model.seeded_latents(seed, rows * 2, generator.z_dim)
    t = np.linspace(0.0, 1.0, steps, dtype=np.float32)[None, :, None]
    z = model.slerp(ends[0::2, None, :], ends[1::2, None, :], t).reshape(-1, generator.z_dim)
    noise = np.repeat(np.arange(rows), steps)   # each walk keeps its grain, as a tile does in the exhibit
    return generator.generate(z, psi=psi, noise=noise), steps
