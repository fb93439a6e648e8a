"""The one generator contract: what anything that draws images from latents offers its users.

The trained generator (`LoadedGenerator`), the exhibit's generator process (`exhibit.generation.process.
RemoteGenerator`) and the test doubles all meet it, so the exhibit's worker, stage and render never ask which one
they hold. This module imports neither TensorFlow nor Keras: the show's own process may import it freely.
"""
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class ImageGenerator(Protocol):
    """Latents in, images out.

    z_dim       latent size (the length of one z)
    resolution  images are resolution x resolution pixels
    name        short name for logs and the status overlay (a file's stem, or "untrained")
    metadata    plain JSON values: resolution, z_dim and how the model was trained
    """
    z_dim: int
    resolution: int
    name: str
    metadata: dict

    def generate(self, z: np.ndarray, psi: float = 1.0, noise=None) -> np.ndarray:
        """z: float32 [N, z_dim] -> uint8 [N, resolution, resolution, 3], RGB.

        psi: truncation (the "truncation trick in W", Karras et al. 2019, "A Style-Based Generator Architecture for
        GANs", appendix B); 1 is the full variety, lower pulls toward the average image. noise: ints [N], which
        fixed noise image each picture gets (None: 0 for all). Raises ValueError for latents of the wrong shape, RuntimeError if drawing failed.
        """

    def close(self) -> None:
        """Release what the generator holds (a child process, say). Safe to call more than once."""
