"""The generator and the discriminator.

The generator is a small StyleGAN2: a mapping network turns a latent z into a style w, and w modulates every
convolution of a synthesis network that grows a learned 4x4 constant into the image. Walking z on a sphere moves w
smoothly, and w changes every layer a little at a time: that is what makes the exhibit's slow drifts look continuous.
The network is kept narrow at high resolution so a batch of 196 tiles generates in well under a second on a CPU.
"""
import math

import keras
import tensorflow as tf

from model.latent import truncate
from model.layers import EqualizedConv2D, EqualizedDense, ModulatedConv2D, leaky_relu

RESOLUTIONS = (32, 64, 128, 256)


def channels_at(resolution, width):
    """Feature maps at each resolution: `width` at 4 to 8 px, halving with every doubling after, never below 16."""
    return max(16, min(width, width * 8 // resolution))


@keras.saving.register_keras_serializable("permeation")
class Generator(keras.Model):
    """z [N, z_dim] -> image [N, R, R, 3] in [-1, 1]. `psi` pulls w toward the average w (truncation)."""

    def __init__(self, resolution=64, z_dim=128, w_dim=256, width=256, mapping_layers=4, info=None, **kwargs):
        super().__init__(**kwargs)
        if resolution not in RESOLUTIONS:
            raise ValueError(f"resolution {resolution} is not supported: use one of {', '.join(map(str, RESOLUTIONS))}")
        self.resolution, self.z_dim, self.w_dim = resolution, z_dim, w_dim
        self.width, self.mapping_layers = width, mapping_layers
        self.info = dict(info or {})   # how it was trained: travels inside the model file

        self.mapping = [EqualizedDense(w_dim, lr_multiplier=0.01, activate=True, name=f"map{i}")
                        for i in range(mapping_layers)]
        self.blocks, self.to_rgb = [], []
        res = 4
        self.blocks.append([ModulatedConv2D(channels_at(4, width), noise=True, name="conv4")])
        self.to_rgb.append(ModulatedConv2D(3, kernel_size=1, demodulate=False, activate=False, name="rgb4"))
        while res < resolution:
            res *= 2
            block = [ModulatedConv2D(channels_at(res, width), up=True, noise=True, name=f"up{res}")]
            if res <= 16:   # a second conv where it is cheap adds structure at the scale of composition
                block.append(ModulatedConv2D(channels_at(res, width), noise=True, name=f"conv{res}"))
            self.blocks.append(block)
            self.to_rgb.append(ModulatedConv2D(3, kernel_size=1, demodulate=False, activate=False, name=f"rgb{res}"))

    def build(self, input_shape=None):
        c4 = channels_at(4, self.width)
        self.const = self.add_weight(name="const", shape=(1, 4, 4, c4),
                                     initializer=keras.initializers.RandomNormal(stddev=1.0))
        # Running mean of w over training: the centre that truncation pulls toward. Not trained by gradients.
        self.w_avg = self.add_weight(name="w_avg", shape=(self.w_dim,), initializer="zeros", trainable=False)
        w_shape = (None, self.w_dim)
        for i in range(self.mapping_layers):
            self.mapping[i].build((None, self.z_dim if i == 0 else self.w_dim))
        res, channels = 4, c4
        for block, rgb in zip(self.blocks, self.to_rgb):
            for conv in block:
                conv.build(((None, res, res, channels), w_shape))
                res, channels = (res * 2 if conv.up else res), conv.filters
            rgb.build(((None, res, res, channels), w_shape))
        self.built = True

    def map(self, z):
        """z -> w. Normalising z first puts every latent on the same sphere, which slerp walks along."""
        x = z * tf.math.rsqrt(tf.reduce_mean(tf.square(z), axis=1, keepdims=True) + 1e-8)
        for layer in self.mapping:
            x = layer(x)
        return x

    def synthesize(self, w, training=False, noise_index=None):
        """w -> image in [-1, 1]. Each resolution adds its colours onto the upsampled image of the one below.

        `training` draws fresh per-pixel noise; otherwise sample i uses fixed noise image noise_index[i] (0 if None).
        """
        x = tf.tile(self.const, [tf.shape(w)[0], 1, 1, 1])
        rgb = None
        for block, to_rgb in zip(self.blocks, self.to_rgb):
            for conv in block:
                x = conv([x, w], training=training, noise_index=noise_index)
            y = to_rgb([x, w])
            if rgb is not None:
                rgb = tf.image.resize(rgb, tf.shape(y)[1:3], method="bilinear")
            rgb = y if rgb is None else rgb + y
        return rgb

    def call(self, z, psi=1.0, training=False, noise_index=None):
        return self.synthesize(truncate(self.map(z), self.w_avg, psi), training=training, noise_index=noise_index)

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution, "z_dim": self.z_dim, "w_dim": self.w_dim,
                "width": self.width, "mapping_layers": self.mapping_layers, "info": self.info}


@keras.saving.register_keras_serializable("permeation")
class Discriminator(keras.Model):
    """image [N, R, R, 3] in [-1, 1] -> one logit per image. Residual blocks, as in StyleGAN2.

    No batch statistics of any kind: under MirroredStrategy each replica sees only its own slice of the batch, and a
    layer that mixes samples would make the replicas disagree.
    """

    def __init__(self, resolution=64, width=256, **kwargs):
        super().__init__(**kwargs)
        self.resolution, self.width = resolution, width
        self.from_rgb = EqualizedConv2D(channels_at(resolution, width), kernel_size=1, name="from_rgb")
        self.blocks = []
        res = resolution
        while res > 4:
            c_in, c_out = channels_at(res, width), channels_at(res // 2, width)
            self.blocks.append([EqualizedConv2D(c_in, name=f"conv{res}"),
                                EqualizedConv2D(c_out, down=True, name=f"down{res}"),
                                EqualizedConv2D(c_out, kernel_size=1, down=True, activate=False, name=f"skip{res}")])
            res //= 2
        c4 = channels_at(4, width)
        self.conv4 = EqualizedConv2D(c4, name="conv4")
        self.dense = EqualizedDense(c4, activate=True, name="dense")
        self.out = EqualizedDense(1, name="logit")

    def call(self, x):
        x = self.from_rgb(x)
        for conv, down, skip in self.blocks:
            # Dividing by sqrt(2) keeps the residual sum at unit variance.
            x = (skip(x) + down(conv(x))) * (1.0 / math.sqrt(2.0))
        x = self.conv4(x)
        x = tf.reshape(x, [tf.shape(x)[0], -1])
        return self.out(self.dense(x))

    def get_config(self):
        return {**super().get_config(), "resolution": self.resolution, "width": self.width}


def build_generator(resolution=64, z_dim=128, w_dim=256, width=256, mapping_layers=4, info=None, seed=None):
    """A generator with its weights created (seeded when `seed` is given), ready to call or train."""
    if seed is not None:
        keras.utils.set_random_seed(seed)
    generator = Generator(resolution, z_dim, w_dim, width, mapping_layers, info)
    generator.build()
    return generator


def build_discriminator(resolution=64, width=256, seed=None):
    if seed is not None:
        keras.utils.set_random_seed(seed)
    discriminator = Discriminator(resolution, width)
    discriminator(tf.zeros([1, resolution, resolution, 3]))
    return discriminator


__all__ = ["Generator", "Discriminator", "build_generator", "build_discriminator", "leaky_relu"]
