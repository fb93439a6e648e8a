"""The GAN and the one contract between training and showing.

    g = model.load_generator(path)      # or model.new_generator(64) for an untrained one
    images = g.generate(model.seeded_latents(seed, 196, g.z_dim), psi=0.8)   # uint8 [196, R, R, 3]

  contract.py        ImageGenerator: what anything that draws offers (the loaded model, the exhibit's process)
  generator_file.py  the generator file: save, check, load; LoadedGenerator draws with it
  networks.py        the StyleGAN2 generator and discriminator (Keras); layers.py their modulated convolutions
  latent.py          seeded latents, slerp, truncation (numpy)
  atomic.py          file writes that are never found half done
Importing the package does not import TensorFlow: only building or loading a network does, so the exhibit's own
process can use the contract, latents and file checks without it.
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from model.contract import ImageGenerator  # noqa: E402
from model.generator_file import (  # noqa: E402
    DEFAULT_RESOLUTION, LoadedGenerator, ModelFileError, bundled_generators, default_generator_path, load_generator,
    new_generator, save_generator)
from model.latent import seeded_latents, slerp, truncate  # noqa: E402

__all__ = ["DEFAULT_RESOLUTION", "ImageGenerator", "LoadedGenerator", "ModelFileError", "bundled_generators",
           "default_generator_path", "load_generator", "new_generator", "save_generator", "seeded_latents", "slerp",
           "truncate"]
