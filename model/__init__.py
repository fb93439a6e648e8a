"""The GAN and the one contract between training and showing.

    g = model.load_generator(path)      # or model.new_generator(64) for an untrained one
    images = g.generate(model.seeded_latents(seed, 196, g.z_dim), psi=0.8)   # uint8 [196, R, R, 3]
"""
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from model.generator_file import (  # noqa: E402
    LoadedGenerator, ModelFileError, bundled_generators, default_generator_path, load_generator, new_generator,
    save_generator)
from model.latent import seeded_latents, slerp, truncate  # noqa: E402

__all__ = ["LoadedGenerator", "ModelFileError", "bundled_generators", "default_generator_path", "load_generator", "new_generator",
           "save_generator", "seeded_latents", "slerp", "truncate"]
