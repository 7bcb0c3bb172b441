"""Network architectures of the original AC-RegNet release, as Keras models.

- :func:`vector_cnn`: the U-Net-like VectorCNN mapping a (moving, fixed) pair of
  images to a displacement field in pixels.
- :func:`mask_autoencoder`: the denoising autoencoder of one-hot anatomical masks,
  returned as (encoder, decoder, autoencoder) sharing weights.

Layer names follow the original TensorFlow 1 variable scopes (``VectorCNN/conv1_a``
..., ``CNN_AE/conv1_a`` ..., ``CNN_AE/fc1``), with the batch norm of layer ``L``
named ``L_bn``, so that the original checkpoints map onto these models.
"""

import functools

import keras
from keras import layers

from acregnet_cli.architecture import (  # noqa: F401
    BN_EPSILON,
    BN_MOMENTUM,
    KERNEL_STDDEV,
    VECTOR_CNN_LAYERS,
)
from acregnet_cli.tf.layers import FusedBatchNormalization, IntegrateVelocity


def _kernel_initializer():
    return keras.initializers.TruncatedNormal(stddev=KERNEL_STDDEV)


def _conv_bn(x, name, filters, strides=1, activation=None, synchronized=False):
    """3x3 'same' convolution without bias, batch norm, optional activation."""
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=name,
                      kernel_initializer=_kernel_initializer())(x)
    if synchronized:
        x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn",
                                      synchronized=True)(x)
    else:
        x = FusedBatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    if activation is not None:
        x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    return x


def vector_cnn(size=64, dropout=0.5, name="VectorCNN", synchronized=False, integration_steps=0):
    """Build the VectorCNN.

    Parameters
    ----------
    size : int or None
        Spatial size of the square input (divisible by 8), or None for any size
        divisible by 8.
    dropout : float
        Dropout rate after conv4_b, conv5_b and conv6_b (active in training only).
    synchronized : bool
        Batch statistics over all replicas of a tf.distribute strategy, so that
        split batches train like one batch.
    integration_steps : int
        0 (the paper): the last convolution is the displacement. N > 0 (an
        extension): it is a stationary velocity field, integrated by N squarings
        (:class:`layers.IntegrateVelocity`) into a fold-free displacement. Adds no
        weights, so the weights files of both kinds have the same layout.

    Returns
    -------
    keras.Model
        Input (B, size, size, 2): moving and fixed images in [0, 1].
        Output (B, size, size, 2): displacement in pixels (rows, columns).
    """
    if size is not None and size % 8:
        raise ValueError(f"VectorCNN input size must be divisible by 8, got {size}")
    conv_bn = functools.partial(_conv_bn, synchronized=synchronized)
    pair = keras.Input((size, size, 2), name="pair")
    skips = []
    x = pair
    for level, filters in ((1, 16), (2, 32), (3, 64)):
        x = conv_bn(x, f"conv{level}_a", filters, activation="elu")
        x = conv_bn(x, f"conv{level}_b", filters)
        skips.append(x)  # the decoder adds the pre-activation tensor
        x = layers.Activation("elu", name=f"conv{level}_b_elu")(x)
        x = layers.AveragePooling2D(2, name=f"pool{level}")(x)
    x = conv_bn(x, "conv4_a", 128, activation="elu")
    x = conv_bn(x, "conv4_b", 128, activation="elu")
    x = layers.Dropout(dropout, name="dropout4")(x)
    for level, filters, use_dropout in ((5, 64, True), (6, 32, True), (7, 16, False)):
        x = layers.UpSampling2D(2, interpolation="nearest", name=f"up{level - 1}")(x)
        x = conv_bn(x, f"deconv{level - 1}", filters)
        x = layers.Add(name=f"skip{level - 1}")([x, skips[7 - level]])
        x = layers.Activation("elu", name=f"deconv{level - 1}_elu")(x)
        x = conv_bn(x, f"conv{level}_a", filters, activation="elu")
        x = conv_bn(x, f"conv{level}_b", filters, activation="elu")
        if use_dropout:
            x = layers.Dropout(dropout, name=f"dropout{level}")(x)
    field = conv_bn(x, "conv_out", 2)
    if integration_steps:
        field = IntegrateVelocity(integration_steps, name="integrate")(field)
    return keras.Model(pair, field, name=name)


def mask_autoencoder(size=64, num_classes=4, code_size=32, synchronized=False):
    """Build the denoising autoencoder of one-hot masks.

    Parameters
    ----------
    size : int
        Square mask size, divisible by 8 (the code is taken from size/8 x size/8).
    num_classes : int
        Channels of the one-hot mask, background included.
    code_size : int
        Length of the code (32 in the paper).
    synchronized : bool
        Batch statistics over all replicas (see :func:`vector_cnn`).

    Returns
    -------
    encoder : keras.Model
        (B, size, size, num_classes) -> (B, code_size), linear code.
    decoder : keras.Model
        (B, code_size) -> (B, size, size, num_classes) logits.
    autoencoder : keras.Model
        decoder(encoder(x)).
    """
    if size % 8:
        raise ValueError(f"autoencoder mask size must be divisible by 8, got {size}")
    conv_bn = functools.partial(_conv_bn, synchronized=synchronized)
    low = size // 8
    mask = keras.Input((size, size, num_classes), name="mask")
    x = conv_bn(mask, "conv1_a", 16, strides=2, activation="relu")
    x = conv_bn(x, "conv1_b", 16, activation="relu")
    x = conv_bn(x, "conv2_a", 32, strides=2, activation="relu")
    x = conv_bn(x, "conv2_b", 32, activation="relu")
    x = conv_bn(x, "conv3", 1, strides=2, activation="relu")
    x = layers.Flatten(name="flatten")(x)
    code = layers.Dense(code_size, name="fc1")(x)
    encoder = keras.Model(mask, code, name="encoder")

    code_in = keras.Input((code_size,), name="code")
    y = layers.Dense(low * low, activation="relu", name="fc2")(code_in)
    y = layers.Reshape((low, low, 1), name="unflatten")(y)
    for level, filters in ((4, 32), (5, 16), (6, 16)):
        y = layers.UpSampling2D(2, interpolation="nearest", name=f"up{level}")(y)
        y = conv_bn(y, f"deconv{level}", filters, activation="relu")
        if level < 6:
            y = conv_bn(y, f"conv{level}", filters, activation="relu")
    # The output convolution has a bias and no batch norm, as in the original.
    logits = layers.Conv2D(num_classes, 3, padding="same", name="conv_out",
                           kernel_initializer=_kernel_initializer())(y)
    decoder = keras.Model(code_in, logits, name="decoder")

    autoencoder = keras.Model(mask, decoder(encoder(mask)), name="autoencoder")
    return encoder, decoder, autoencoder
