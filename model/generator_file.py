"""One generator file: save, load, and the object the exhibit draws with.

The file is a standard Keras `.keras` archive (a zip of config.json and model.weights.h5). What the exhibit needs to
use it -- resolution, latent size, the average style for truncation -- and how it was trained travel inside it, in
the generator's own config. Loading uses Keras safe mode and only our registered layer classes, so a file can never
run code. Files are written atomically (model/atomic.py): a crash mid-write never leaves a broken model.
"""
import datetime
import json
import zipfile
from pathlib import Path

import numpy as np

from model import bundled
from model.atomic import replacing

FORMAT = "medium-permeation-generator"
FORMAT_VERSION = 1
DEFAULT_RESOLUTION = 64         # pixels: the bundled model's, and an untrained generator's when none is given


class ModelFileError(Exception):
    """A generator file that cannot be used; the message names the file and the reason."""


class LoadedGenerator:
    """A trained (or fresh) generator ready to draw, in this process; meets model.ImageGenerator."""

    def __init__(self, network, path=None):
        import tensorflow as tf

        self.network = network
        self.path = Path(path) if path else None
        self.z_dim = int(network.z_dim)
        self.resolution = int(network.resolution)
        # Plain JSON values: Keras hands the config back in tracking containers that cannot be pickled or sent.
        self.metadata = json.loads(json.dumps({"resolution": self.resolution, "z_dim": self.z_dim, **network.info}))

        @tf.function(input_signature=[tf.TensorSpec([None, self.z_dim], tf.float32), tf.TensorSpec([], tf.float32),
                                      tf.TensorSpec([None], tf.int32)])
        def draw(z, psi, noise):
            images = network(z, psi=psi, noise_index=noise)
            return tf.cast(tf.clip_by_value(tf.round(images * 127.5 + 127.5), 0.0, 255.0), tf.uint8)

        self._draw = draw

    @property
    def name(self):
        return self.path.stem if self.path else "untrained"

    def generate(self, z, psi=1.0, noise=None):
        """z: float32 [N, z_dim] -> uint8 [N, R, R, 3]. psi < 1 pulls toward the average image (truncation).

        noise: ints [N], which fixed grain each image gets (default 0 for all). Images side by side look best with
        different numbers; an image that should stay itself over time keeps its number.
        """
        z = np.asarray(z, np.float32)
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"latents must have shape [N, {self.z_dim}], got {list(z.shape)}")
        noise = np.zeros(len(z), np.int32) if noise is None else np.asarray(noise, np.int32).reshape(-1)
        if len(noise) != len(z):
            raise ValueError(f"noise must have one number per latent ({len(z)}), got {len(noise)}")
        if len(z) == 0:
            return np.zeros((0, self.resolution, self.resolution, 3), np.uint8)
        return self._draw(z, np.float32(psi), noise).numpy()

    def close(self):
        """Nothing to release: the network goes with the object."""


def save_generator(generator, path, metadata=None):
    """Write `generator` (a model.Generator network) with `metadata` to one `.keras` file, atomically."""
    path = Path(path)
    if path.suffix != ".keras":
        raise ValueError(f"{path}: a generator file must end in .keras")
    info = {**generator.info, **(metadata or {}), "format": FORMAT, "format_version": FORMAT_VERSION,
            "resolution": int(generator.resolution), "z_dim": int(generator.z_dim),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    if not weights_finite(generator):
        raise ValueError(f"{path}: not written, the generator's weights hold NaN or infinite values")
    generator.info = json.loads(json.dumps(info, default=str))   # only plain JSON values belong in the config
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as temporary:
        generator.save(temporary)
    return path


def _check_archive(path):
    """The reasons a file is not a generator, found before Keras sees it, so the message is ours and clear."""
    if not path.exists():
        raise ModelFileError(f"{path}: no such file")
    if not path.is_file():
        raise ModelFileError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise ModelFileError(f"{path}: the file is empty")
    if not zipfile.is_zipfile(path):
        raise ModelFileError(f"{path}: not a generator file (not a .keras archive, or truncated)")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            missing = {"config.json", "model.weights.h5"} - names
            if missing:
                raise ModelFileError(f"{path}: not a generator file (missing {', '.join(sorted(missing))})")
            bad = archive.testzip()
            if bad:
                raise ModelFileError(f"{path}: the file is corrupt ({bad} fails its checksum)")
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise ModelFileError(f"{path}: the file is corrupt ({error})") from None
    info = config.get("config", {}).get("info", {}) if isinstance(config, dict) else {}
    if config.get("class_name") != "Generator" or info.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a Medium · Permeation generator (a Keras file of another kind)")
    if int(info.get("format_version", 0)) > FORMAT_VERSION:
        raise ModelFileError(f"{path}: made by a newer version (format {info['format_version']}); update this software")


def load_generator(path):
    """Load a generator file; any problem raises ModelFileError naming the file and the reason."""
    import keras

    from model import networks  # noqa: F401  (registers our layer classes with Keras)

    path = Path(path)
    _check_archive(path)
    try:
        network = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many kinds; all mean the same thing to a user
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ModelFileError(f"{path}: could not be loaded ({reason[:200]})") from None
    if not weights_finite(network):
        raise ModelFileError(f"{path}: the weights hold NaN or infinite values (its training diverged); use an "
                             "earlier export or checkpoint (python -m train export RUN_DIR --step N)")
    return LoadedGenerator(network, path)


def weights_finite(network):
    """True if every weight of a Keras model is a finite number: a diverged training leaves NaN, which draws black."""
    return all(np.isfinite(np.asarray(w.numpy())).all() for w in network.weights)


def new_generator(resolution=DEFAULT_RESOLUTION, seed=0, **architecture):
    """A freshly initialised, untrained generator: the real code path, before any model is trained."""
    from model.networks import build_generator

    network = build_generator(resolution=resolution, seed=seed, info={"untrained": True}, **architecture)
    return LoadedGenerator(network)


def default_generator_path(resolution=DEFAULT_RESOLUTION):
    """The generator bundled in assets/, shown when no --model is given."""
    return bundled.path("assets", f"default-{resolution}.keras")


def bundled_generators(folder=None):
    """{resolution in pixels: path} of the generators bundled as `default-<resolution>.keras` (in assets/, or
    `folder`).

    Read from the file names alone, so a process that never imports TensorFlow (the show's) can choose among them.
    """
    found = {}
    for path in Path(folder or bundled.path("assets")).glob("default-*.keras"):
        resolution = path.stem.removeprefix("default-")
        if resolution.isdigit() and path.is_file():
            found[int(resolution)] = path
    return dict(sorted(found.items()))
