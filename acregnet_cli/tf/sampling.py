"""Batches for training, drawn inside TensorFlow from in-memory arrays.

Sampling uses a :class:`tf.random.Generator`, so it runs inside compiled steps,
is reproducible from a seed and is saved in checkpoints with the model.
"""

import math

import tensorflow as tf

from acregnet_cli.tf.ops import warp_labels


def one_hot_masks(labels, num_classes):
    """(N, H, W) class indices -> (N, H, W, K) float32 one-hot masks."""
    return tf.one_hot(tf.cast(labels, tf.int32), num_classes, dtype=tf.float32)


def sample_pairs(generator, count, batch_size):
    """Indices of ``batch_size`` random (moving, fixed) pairs, drawn with replacement."""
    indices = generator.uniform([2, batch_size], minval=0, maxval=count, dtype=tf.int32)
    return indices[0], indices[1]


def sample_indices(generator, count, batch_size):
    """Indices of ``batch_size`` random items, drawn with replacement."""
    return generator.uniform([batch_size], minval=0, maxval=count, dtype=tf.int32)


def swap_noise(labels, generator, probability=0.1):
    """Corrupt label maps by swapping horizontal neighbour pairs.

    In every row the pixels of each pair of columns (2j, 2j+1) exchange their
    labels with the given probability. Only pairs whose two labels differ change,
    so noise appears on label borders only (the original release's noise).

    Parameters
    ----------
    labels : Tensor, shape (B, H, W) or (B, H, W, K)
        Class indices or one-hot masks; W must be even.
    generator : tf.random.Generator
    probability : float

    Returns
    -------
    Tensor of the same shape and dtype.
    """
    shape = tf.shape(labels)
    pairs = tf.reshape(labels, tf.concat([shape[:2], [shape[2] // 2, 2], shape[3:]], axis=0))
    swap_shape = tf.stack([shape[0], shape[1], shape[2] // 2])
    swap = generator.uniform(swap_shape) < probability
    swapped = tf.reverse(pairs, axis=[3])
    extra_dims = tf.rank(labels) - 3
    swap = tf.reshape(swap, tf.concat([swap_shape, [1], tf.ones([extra_dims], tf.int32)], axis=0))
    return tf.reshape(tf.where(swap, swapped, pairs), shape)


def random_affine_fields(generator, batch_size, height, width, rotation=0.0, scale=0.0, shift=0.0):
    """Displacement fields of random affine maps about the image centre.

    Output pixel ``p`` samples the input at ``c + R S (p - c) + t`` (``c`` the centre),
    with ``R`` a rotation by an angle drawn in [-rotation, rotation] degrees, ``S`` a
    diagonal scaling with one factor per axis drawn in [1 - scale, 1 + scale], and ``t``
    a translation with one component per axis drawn in [-shift, shift] times the
    image's side. All zero gives zero fields.

    Parameters
    ----------
    generator : tf.random.Generator
    batch_size, height, width : int or scalar Tensor
    rotation : float
        Largest rotation, degrees.
    scale : float
        Largest relative change of size along each axis, below 1.
    shift : float
        Largest translation as a fraction of the image's side.

    Returns
    -------
    Tensor, shape (batch_size, height, width, 2), float32, in pixels, channel 0
    along rows (the convention of :func:`acregnet_cli.tf.ops.warp_bilinear`).
    """
    def draw(shape, bound):
        return generator.uniform(shape, minval=-bound, maxval=bound)

    angle = draw([batch_size], rotation * math.pi / 180.0)
    factors = 1.0 + draw([batch_size, 2], scale)
    sizes = tf.cast(tf.stack([height, width]), tf.float32)
    translation = draw([batch_size, 2], shift) * sizes
    cos, sin = tf.cos(angle), tf.sin(angle)
    # Rows of R S for (row, column) coordinates, one 2x2 matrix per sample.
    matrix = tf.stack([tf.stack([cos * factors[:, 0], -sin * factors[:, 1]], axis=-1),
                       tf.stack([sin * factors[:, 0], cos * factors[:, 1]], axis=-1)], axis=1)
    centre = (sizes - 1.0) / 2.0
    rows, cols = tf.meshgrid(tf.range(height, dtype=tf.float32), tf.range(width, dtype=tf.float32), indexing="ij")
    grid = tf.stack([rows, cols], axis=-1) - centre
    mapped = tf.einsum("bij,hwj->bhwi", matrix, grid) + translation[:, None, None, :]
    return mapped - grid[None]


def augment_masks(labels, generator, num_classes, rotation=0.0, scale=0.0, shift=0.0):
    """Random affine transforms of label maps, one per map (see :func:`random_affine_fields`).

    Labels are resampled as the arg-max of the bilinearly warped one-hot masks, so no
    new class appears; positions outside the map take the nearest border label.

    Parameters
    ----------
    labels : Tensor, shape (B, H, W), integer class indices below ``num_classes``
    generator : tf.random.Generator
    num_classes : int
    rotation, scale, shift : float

    Returns
    -------
    Tensor of the shape and dtype of ``labels``.
    """
    labels = tf.convert_to_tensor(labels)
    shape = tf.shape(labels)
    field = random_affine_fields(generator, shape[0], shape[1], shape[2], rotation, scale, shift)
    _, warped = warp_labels(tf.zeros(shape, tf.float32), labels, field, num_classes)
    return tf.cast(warped, labels.dtype)
