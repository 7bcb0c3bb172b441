"""Batches for training, drawn inside TensorFlow from in-memory arrays.

Sampling uses a :class:`tf.random.Generator`, so it runs inside compiled steps,
is reproducible from a seed and is saved in checkpoints with the model.
"""

import tensorflow as tf


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
