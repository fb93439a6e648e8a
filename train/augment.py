"""Adaptive differentiable augmentation (ADA-style probability, DiffAugment-style operations).

With a few hundred images the discriminator soon memorises them and stops teaching the generator. Showing it
augmented images -- real and generated alike, so the generator is never asked to produce the augmentations -- keeps
it honest. Each operation is differentiable, so the generator's gradients flow through it. The probability p of
applying each operation grows when the discriminator is over-confident on real images and shrinks when it is not.
"""
import tensorflow as tf


def _per_sample(x, p, augmented):
    """Keep each sample's augmented version with probability p, the original otherwise."""
    keep = tf.random.uniform([tf.shape(x)[0], 1, 1, 1]) < p
    return tf.where(keep, augmented, x)


def _colour(x, p):
    n = tf.shape(x)[0]
    brightness = tf.random.uniform([n, 1, 1, 1], -0.2, 0.2)
    x = _per_sample(x, p, x + brightness)
    mean = tf.reduce_mean(x, axis=3, keepdims=True)
    saturation = tf.random.uniform([n, 1, 1, 1], 0.6, 1.4)
    x = _per_sample(x, p, (x - mean) * saturation + mean)
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    contrast = tf.random.uniform([n, 1, 1, 1], 0.7, 1.3)
    return _per_sample(x, p, (x - mean) * contrast + mean)


def _translate(x, p, fraction=0.125):
    """Shift each image by up to 1/8 of its size, filling with reflected content (a gather, so gradients flow)."""
    n, size = tf.shape(x)[0], tf.shape(x)[1]
    limit = tf.cast(tf.cast(size, tf.float32) * fraction, tf.int32)
    shift = tf.random.uniform([n, 2], -limit, limit + 1, dtype=tf.int32)
    grid = tf.range(size)[None, :]
    rows = _reflect(grid + shift[:, :1], size)          # [n, size]
    cols = _reflect(grid + shift[:, 1:], size)
    shifted = tf.gather(x, rows, axis=1, batch_dims=1)
    shifted = tf.gather(shifted, cols, axis=2, batch_dims=1)
    return _per_sample(x, p, shifted)


def _reflect(index, size):
    period = 2 * size - 2
    index = tf.math.floormod(index, period)
    return tf.where(index >= size, period - index, index)


def _cutout(x, p, fraction=0.5):
    """Blank a random square of half the image's size: the discriminator must judge from what is left."""
    n, size = tf.shape(x)[0], tf.shape(x)[1]
    half = tf.cast(tf.cast(size, tf.float32) * fraction / 2, tf.int32)
    centre = tf.random.uniform([n, 2], 0, size, dtype=tf.int32)
    grid = tf.range(size)[None, :]
    inside_rows = tf.abs(grid - centre[:, :1]) < half      # [n, size]
    inside_cols = tf.abs(grid - centre[:, 1:]) < half
    hole = tf.logical_and(inside_rows[:, :, None], inside_cols[:, None, :])[..., None]
    return _per_sample(x, p, tf.where(hole, tf.zeros_like(x), x))


def augment(images, p):
    """Apply each operation with probability p to images in [-1, 1]. p = 0 returns the images unchanged."""
    images = _colour(images, p)
    images = _translate(images, p)
    return _cutout(images, p)


def adjust_probability(p, real_sign_mean, images, target, speed_images, max_p):
    """ADA's controller: push p up when the discriminator is too sure of the reals, down when it is not."""
    step = images / speed_images
    p = p + step if real_sign_mean > target else p - step
    return min(max(p, 0.0), max_p)
