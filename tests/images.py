"""A folder of odd and broken images, like the ones artists really bring, for tests to load.

`make_image_folder(root)` writes (only under `root`) one file for every case the data loader must handle, each
with content a test can check after loading: colour fields at known places, so a swapped channel, a missed
rotation, a wrong crop, a clipped 16-bit range or a dropped alpha channel all show up as a wrong colour.
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
MAGENTA, CYAN = (255, 0, 255), (0, 255, 255)
BACKGROUND = "background"   # a probe that must show the background colour passed to the loader

# The quadrant card: any flip, rotation or channel swap moves a colour to the wrong corner.
QUADRANT_PROBES = {(0.25, 0.25): RED, (0.75, 0.25): GREEN, (0.25, 0.75): BLUE, (0.75, 0.75): YELLOW}


@dataclass
class Expected:
    """What a loaded image must look like: {(x, y) as fractions of the square: (r, g, b) or BACKGROUND}."""
    probes: dict
    tolerance: int = 10     # per channel, on the mean of a small patch; lossy formats get more


def grey(v: int) -> tuple[int, int, int]:
    return (v, v, v)


def quadrant_card(size: int = 64) -> Image.Image:
    h = size // 2
    a = np.zeros((size, size, 3), np.uint8)
    a[:h, :h], a[:h, h:], a[h:, :h], a[h:, h:] = RED, GREEN, BLUE, YELLOW
    return Image.fromarray(a)


def bands(width: int, height: int, colours, vertical: bool) -> Image.Image:
    """Equal bands of colour, stacked top to bottom (vertical=True) or left to right."""
    a = np.zeros((height, width, 3), np.uint8)
    n = len(colours)
    for i, c in enumerate(colours):
        if vertical:
            a[i * height // n:(i + 1) * height // n] = c
        else:
            a[:, i * width // n:(i + 1) * width // n] = c
    return Image.fromarray(a)


def noisy_jpeg_bytes(size: int = 64, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def make_image_folder(root) -> dict:
    """Write the test folder under `root` and say what a loader should make of each file.

    Returns {"root": Path,
             "images": {relative posix path: Expected},    # must load, with these colours
             "broken": {relative posix path: what is wrong},  # must be skipped and listed with a reason
             "hidden": [...],   # hidden files/folders: neither loaded nor listed
             "other": [...],    # not image extensions: not loaded
             "small": [...]}    # smaller than 48 px: upscaled at resolutions above that
    Every image is at least 48 px on its short side except those in "small".
    """
    root = Path(root)
    (root / "sub" / "deeper").mkdir(parents=True, exist_ok=True)
    images, broken = {}, {}

    def put(rel: str, img: Image.Image, expected: Expected, **save):
        img.save(root / rel, **save)
        images[rel] = expected

    quad = Expected(QUADRANT_PROBES)
    quad_lossy = Expected(QUADRANT_PROBES, tolerance=40)
    card = quadrant_card()

    # Ordinary 8-bit RGB in every format, plus an uppercase extension.
    put("photo.jpg", card, quad_lossy, quality=95)
    put("UPPER.JPG", card, quad_lossy, format="JPEG", quality=95)
    put("drawing.png", card, quad)
    put("lossless.webp", card, quad, lossless=True)
    put("paint.bmp", card, quad)

    # Animated GIF: the first frame is the card, the second is black. Only the first may be used.
    card.save(root / "anim.gif", save_all=True, append_images=[Image.new("RGB", (64, 64))], duration=100, loop=0)
    images["anim.gif"] = quad

    # 16-bit, 32-bit and float greyscale: scaled by their range, not clipped to white.
    ramp = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (64, 1))
    put("gray16.png", Image.fromarray(ramp), Expected({(0.1, 0.5): grey(26), (0.5, 0.5): grey(128),
                                                       (0.9, 0.5): grey(230)}, tolerance=12))
    halves16 = np.full((64, 64), 64 * 257, np.uint16)
    halves16[32:] = 192 * 257
    put("gray16.tif", Image.fromarray(halves16), Expected({(0.5, 0.25): grey(64), (0.5, 0.75): grey(192)}))
    halves_f = np.full((64, 64), 0.25, np.float32)
    halves_f[:, 32:] = 0.75
    put("float.tif", Image.fromarray(halves_f, "F"), Expected({(0.25, 0.5): grey(64), (0.75, 0.5): grey(191)}))
    halves_i = np.zeros((64, 64), np.int32)
    halves_i[:32] = 65535
    put("int32.tif", Image.fromarray(halves_i, "I"), Expected({(0.5, 0.25): grey(255), (0.5, 0.75): grey(0)}))

    # 16-bit RGB TIFF (Pillow cannot write one; OpenCV can, in BGR order).
    import cv2
    card16 = np.asarray(card).astype(np.uint16) * 257
    cv2.imwrite(str(root / "rgb16.tif"), np.ascontiguousarray(card16[..., ::-1]))
    images["rgb16.tif"] = quad

    # CMYK JPEG (print workflows): must come out as the same four colours.
    cmyk = Image.merge("CMYK", [Image.fromarray(255 - np.asarray(card)[..., i]) for i in range(3)]
                       + [Image.new("L", card.size, 0)])
    put("cmyk.jpg", cmyk, quad_lossy, quality=95)

    # Transparency: palette with a transparent index, RGBA, and grey + alpha. Transparent pixels hide a colour
    # that differs from any background the tests use, so dropping alpha instead of compositing shows.
    pal = Image.new("P", (64, 64), 0)
    pal.putpalette([*BLUE, *MAGENTA] + [0] * (256 - 2) * 3)
    pal.paste(1, (0, 0, 32, 64))
    put("palette_alpha.png", pal, Expected({(0.25, 0.5): BACKGROUND, (0.75, 0.5): BLUE}), transparency=1)
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[:, :32] = (*MAGENTA, 0)
    rgba[:, 32:] = (*RED, 255)
    put("rgba.png", Image.fromarray(rgba, "RGBA"), Expected({(0.25, 0.5): BACKGROUND, (0.75, 0.5): RED}))
    la = np.zeros((64, 64, 2), np.uint8)
    la[:32] = (30, 0)
    la[32:] = (100, 255)
    put("gray_alpha.png", Image.fromarray(la, "LA"), Expected({(0.5, 0.25): BACKGROUND, (0.5, 0.75): grey(100)}))

    # A phone portrait stored sideways with EXIF orientation 6 ("rotate 90 degrees clockwise to view").
    # As seen: 48 wide, 96 tall, red top half, blue bottom half. As stored: red left, blue right.
    seen = bands(48, 96, [RED, BLUE], vertical=True)
    exif = Image.Exif()
    exif[0x0112] = 6
    put("sideways.jpg", seen.transpose(Image.Transpose.ROTATE_90),
        Expected({(0.5, 0.2): RED, (0.5, 0.8): BLUE}, tolerance=40), quality=95, exif=exif)

    # Centre crop: only the middle third of a portrait and a landscape survives.
    put("portrait.png", bands(64, 192, [GREEN, RED, BLUE], vertical=True),
        Expected({(0.5, 0.1): RED, (0.5, 0.5): RED, (0.5, 0.9): RED, (0.1, 0.5): RED, (0.9, 0.5): RED}))
    put("landscape.jpg", bands(192, 64, [GREEN, YELLOW, BLUE], vertical=False),
        Expected({(0.1, 0.5): YELLOW, (0.5, 0.5): YELLOW, (0.9, 0.5): YELLOW}, tolerance=40), quality=95)

    # Small (upscaled, not skipped), nested folders, a greyscale JPEG.
    put("tiny.png", Image.new("RGB", (8, 8), MAGENTA), Expected({(0.5, 0.5): MAGENTA}))
    put("sub/deeper/nested.png", Image.new("RGB", (64, 64), CYAN), Expected({(0.5, 0.5): CYAN}))
    put("sub/gray.jpg", Image.new("L", (64, 64), 200), Expected({(0.5, 0.5): grey(200)}, tolerance=4), quality=95)

    # Broken files, each a classic.
    (root / "empty.png").write_bytes(b"")
    broken["empty.png"] = "zero bytes"
    (root / "notes.jpg").write_text("Opening night: check the projector, bring the OSC tablet.\n")
    broken["notes.jpg"] = "a text file with an image name"
    jpeg = noisy_jpeg_bytes()
    (root / "truncated.jpg").write_bytes(jpeg[: len(jpeg) * 6 // 10])
    broken["truncated.jpg"] = "a JPEG cut off part-way (interrupted copy)"
    (root / "random.png").write_bytes(random.Random(7).randbytes(3000))
    broken["random.png"] = "random bytes named .png"
    png = (root / "drawing.png").read_bytes()
    (root / "sub" / "cut.png").write_bytes(png[: len(png) // 2])
    broken["sub/cut.png"] = "a PNG cut off part-way"

    # Hidden clutter (valid images, so loading them would be visible) and non-image files.
    (root / ".thumbnails").mkdir(exist_ok=True)
    card.save(root / ".thumbnails" / "photo.png")
    card.save(root / ".hidden.png")
    (root / "._photo.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble resource fork")
    (root / "notes.txt").write_text("titles and dates\n")
    (root / "sub" / "Thumbs.db").write_bytes(b"\x00" * 64)

    return {
        "root": root,
        "images": images,
        "broken": broken,
        "hidden": [".thumbnails/photo.png", ".hidden.png", "._photo.jpg"],
        "other": ["notes.txt", "sub/Thumbs.db"],
        "small": ["tiny.png"],
    }
