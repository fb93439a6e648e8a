"""Latent-space maths shared by the trainer (sample sheets) and the exhibit (tile paths).

Latents are drawn from numpy's PCG64 generator, whose output is the same on every machine and numpy version, so a
seed names the same picture everywhere.
"""
import numpy as np


def seeded_latents(seed, n, z_dim):
    """n standard-normal latents of size z_dim, the same for the same seed on any machine."""
    return np.random.Generator(np.random.PCG64(int(seed))).standard_normal((n, z_dim)).astype(np.float32)


def slerp(a, b, t):
    """Spherical interpolation from a (t=0) to b (t=1).

    Gaussian latents live near a sphere; a straight line between two of them dips toward the centre, where images
    go grey and bland. Moving along the great circle keeps every in-between latent as typical as its ends.
    """
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    t = np.asarray(t, np.float32)
    na = np.linalg.norm(a, axis=-1, keepdims=True)
    nb = np.linalg.norm(b, axis=-1, keepdims=True)
    cos = np.sum(a * b, axis=-1, keepdims=True) / np.maximum(na * nb, 1e-12)
    omega = np.arccos(np.clip(cos, -1.0, 1.0))
    sin = np.sin(omega)
    nearly_parallel = sin < 1e-6
    safe_sin = np.where(nearly_parallel, 1.0, sin)
    wa = np.where(nearly_parallel, 1.0 - t, np.sin((1.0 - t) * omega) / safe_sin)
    wb = np.where(nearly_parallel, t, np.sin(t * omega) / safe_sin)
    return (wa * a + wb * b).astype(np.float32)


def truncate(w, w_avg, psi):
    """Pull styles toward the average style: psi=1 leaves them, psi<1 trades variety for typical, cleaner images."""
    return w_avg + psi * (w - w_avg)
