"""The few building blocks of the GAN, each one idea.

Every layer uses the *equalised learning rate* of Progressive GAN / StyleGAN: weights are stored with unit variance
and scaled by 1/sqrt(fan_in) at run time. Adam then moves every layer at the same relative speed, which keeps a small,
quickly trained GAN stable without normalisation layers. No layer here keeps batch statistics, so every replica of a
MirroredStrategy computes exactly the same function.
"""
import math

import keras
import numpy as np
import tensorflow as tf

SQRT2 = math.sqrt(2.0)


def leaky_relu(x):
    """LeakyReLU(0.2) with the gain that keeps activations at unit variance."""
    return tf.nn.leaky_relu(x, alpha=0.2) * SQRT2


NOISE_IMAGES = 256


def noise_images(size):
    """The fixed noise images a layer draws with, one per noise index: the same on every machine (PCG64).

    Training draws fresh noise every step; drawing uses these, so an image is a pure function of its latent and
    its noise index. The exhibit gives each tile its own index: one shared noise image would print the same faint
    motif into every tile of the grid.
    """
    rng = np.random.Generator(np.random.PCG64([size, 2021]))
    return tf.constant(rng.standard_normal((NOISE_IMAGES, size, size, 1), dtype=np.float32))


def blur(x):
    """A separable [1, 2, 1] / 4 low-pass filter on every channel: removes what upsampling aliases."""
    channels = x.shape[-1]
    taps = tf.constant([1.0, 2.0, 1.0]) / 4.0
    kernel = tf.tile((taps[:, None] * taps[None, :])[:, :, None, None], [1, 1, channels, 1])
    return tf.nn.depthwise_conv2d(x, kernel, strides=[1, 1, 1, 1], padding="SAME")


@keras.saving.register_keras_serializable("permeation")
class EqualizedDense(keras.layers.Layer):
    """A dense layer with equalised learning rate; `lr_multiplier` slows the mapping network as in StyleGAN."""

    def __init__(self, units, lr_multiplier=1.0, bias_init=0.0, activate=False, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.lr_multiplier = lr_multiplier
        self.bias_init = bias_init
        self.activate = activate

    def build(self, input_shape):
        fan_in = int(input_shape[-1])
        self.scale = self.lr_multiplier / math.sqrt(fan_in)
        self.kernel = self.add_weight(
            name="kernel", shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_multiplier))
        self.bias = self.add_weight(
            name="bias", shape=(self.units,),
            initializer=keras.initializers.Constant(self.bias_init / self.lr_multiplier))

    def call(self, x):
        x = tf.matmul(x, self.kernel * self.scale) + self.bias * self.lr_multiplier
        return leaky_relu(x) if self.activate else x

    def get_config(self):
        return {**super().get_config(), "units": self.units, "lr_multiplier": self.lr_multiplier,
                "bias_init": self.bias_init, "activate": self.activate}


@keras.saving.register_keras_serializable("permeation")
class ModulatedConv2D(keras.layers.Layer):
    """StyleGAN2's modulated convolution, in its cheap non-grouped form.

    The style (from w) scales the input channels, an ordinary convolution runs on the whole batch, and demodulation
    rescales the output channels so each keeps unit variance. Demodulation needs only a [N, in] x [in, out] matmul,
    so a batch of 196 tiles costs one plain convolution: fast on a CPU.

    `up=True` doubles the resolution with a 4x4 transposed convolution of stride 2 (about half the cost of
    upsample-then-3x3-conv), followed by a fixed [1, 2, 1] blur: without it, the stride leaves a faint one-pixel
    checkerboard that training alone does not remove (StyleGAN2 blurs for the same reason).
    """

    def __init__(self, filters, kernel_size=3, up=False, demodulate=True, activate=True, noise=False, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = 4 if up else kernel_size
        self.up = up
        self.demodulate = demodulate
        self.activate = activate
        self.noise = noise

    def build(self, input_shape):
        x_shape, w_shape = input_shape
        in_channels = int(x_shape[-1])
        k = self.kernel_size
        self.fan_in = k * k * in_channels
        # A transposed conv kernel is [k, k, out, in]; a conv kernel is [k, k, in, out].
        shape = (k, k, self.filters, in_channels) if self.up else (k, k, in_channels, self.filters)
        self.kernel = self.add_weight(name="kernel", shape=shape,
                                      initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
        self.style = EqualizedDense(in_channels, bias_init=1.0, name="style")
        self.style.build(w_shape)
        if self.noise:
            # Per-pixel noise gives the generator a source of fine grain (brush texture, film grain); without it,
            # it invents grain from its own weights, which shows as a lattice of cells.
            size = int(x_shape[1]) * (2 if self.up else 1)
            self.noise_strength = self.add_weight(name="noise_strength", shape=(), initializer="zeros")
            self.noise_bank = noise_images(size)

    def call(self, inputs, training=False, noise_index=None):
        x, w = inputs
        styles = self.style(w)                                    # [N, in]
        weight = self.kernel * (1.0 / math.sqrt(self.fan_in))
        x = x * styles[:, None, None, :]
        if self.up:
            n, h, wd = tf.shape(x)[0], tf.shape(x)[1], tf.shape(x)[2]
            x = tf.nn.conv2d_transpose(x, weight, output_shape=[n, h * 2, wd * 2, self.filters],
                                       strides=2, padding="SAME")
            weight_power = tf.reduce_sum(tf.square(weight), axis=[0, 1])          # [out, in]
            weight_power = tf.transpose(weight_power) / 4.0   # each output pixel sees a quarter of a 4x4/2 kernel
            x = blur(x)
        else:
            x = tf.nn.conv2d(x, weight, strides=1, padding="SAME")
            weight_power = tf.reduce_sum(tf.square(weight), axis=[0, 1])          # [in, out]
        if self.demodulate:
            demod = tf.math.rsqrt(tf.matmul(tf.square(styles), weight_power) + 1e-8)  # [N, out]
            x = x * demod[:, None, None, :]
        if self.noise:
            if training:
                noise = tf.random.normal(tf.concat([tf.shape(x)[:3], [1]], 0))
            else:
                if noise_index is None:
                    noise_index = tf.zeros([tf.shape(x)[0]], tf.int32)
                noise = tf.gather(self.noise_bank, noise_index % NOISE_IMAGES)
            x = x + noise * self.noise_strength
        x = x + self.bias
        return leaky_relu(x) if self.activate else x

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size, "up": self.up,
                "demodulate": self.demodulate, "activate": self.activate, "noise": self.noise}


@keras.saving.register_keras_serializable("permeation")
class EqualizedConv2D(keras.layers.Layer):
    """A plain convolution with equalised learning rate, for the discriminator; `down=True` halves the resolution."""

    def __init__(self, filters, kernel_size=3, down=False, activate=True, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.kernel_size = kernel_size
        self.down = down
        self.activate = activate

    def build(self, input_shape):
        in_channels = int(input_shape[-1])
        k = self.kernel_size
        self.scale = 1.0 / math.sqrt(k * k * in_channels)
        self.kernel = self.add_weight(name="kernel", shape=(k, k, in_channels, self.filters),
                                      initializer=keras.initializers.RandomNormal(stddev=1.0))
        self.bias = self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")

    def call(self, x):
        if self.down:
            # Blur-then-subsample: averaging 2x2 before the strided conv keeps the discriminator from aliasing.
            x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
        x = tf.nn.conv2d(x, self.kernel * self.scale, strides=1, padding="SAME") + self.bias
        return leaky_relu(x) if self.activate else x

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "down": self.down, "activate": self.activate}
