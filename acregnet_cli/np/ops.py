"""The NumPy engine's operations: the functions of :mod:`acregnet_cli.tf.ops`, same names.

They reproduce TensorFlow's results to float rounding (tests check it) and let a
single registration run without starting TensorFlow (see :mod:`acregnet_cli.np.vector_cnn`).
Arrays are batched like the TensorFlow ones: (B, H, W, C).
"""

import numpy as np

from acregnet_cli.fields import core as fields_core


def _axis_weights(in_size, out_size, method):
    """Source indices (lower, upper) and weights of the upper one, along one axis."""
    scale = in_size / out_size
    positions = np.arange(out_size, dtype=np.float64)
    if method == "legacy":
        coords = positions * scale
    elif method == "modern":
        coords = (positions + 0.5) * scale - 0.5
    else:
        raise ValueError(f"unknown resize method {method!r}: use 'legacy' or 'modern'")
    floor = np.floor(coords)
    lower = np.clip(floor, 0, in_size - 1).astype(np.int64)
    upper = np.clip(floor + 1 if method == "legacy" else np.ceil(coords), 0, in_size - 1).astype(np.int64)
    return lower, upper, (coords - floor).astype(np.float32)


def interpolation_matrix(in_size, out_size, method="legacy"):
    """The (out_size, in_size) matrix of a bilinear resize along one axis.

    ``matrix @ signal`` resizes a signal as :func:`resize_images` does along that
    axis, so a 2-D resize is ``rows @ image @ columns.T``: two small matrix products,
    which run faster than TensorFlow's resize kernel for upsampled fields.
    """
    lower, upper, weight = _axis_weights(in_size, out_size, method)
    matrix = np.zeros((out_size, in_size), np.float32)
    rows = np.arange(out_size)
    np.add.at(matrix, (rows, lower), 1.0 - weight)
    np.add.at(matrix, (rows, upper), weight)
    return matrix


def resize_images(images, size, method="legacy"):
    """Bilinear resize of a (B, H, W, C) batch, as :func:`layers.resize_images`."""
    images = np.asarray(images, dtype=np.float32)
    height, width = (size, size) if isinstance(size, int) else size
    top, bottom, wy = _axis_weights(images.shape[1], height, method)
    left, right, wx = _axis_weights(images.shape[2], width, method)
    rows = images[:, top] + (images[:, bottom] - images[:, top]) * wy[None, :, None, None]
    return rows[:, :, left] + (rows[:, :, right] - rows[:, :, left]) * wx[None, None, :, None]


def resize_field(field, size, method="legacy"):
    """Resize a (B, H, W, 2) field and scale it to the new pixel size."""
    height, width = (size, size) if isinstance(size, int) else size
    scale = np.array([height / field.shape[1], width / field.shape[2]], dtype=np.float32)
    return resize_images(field, (height, width), method) * scale


def warp_bilinear(image, field):
    """Warp (B, H, W, C) by a (B, H, W, 2) field in pixels, clamping at the border."""
    image = np.asarray(image, dtype=np.float32)
    field = np.asarray(field, dtype=np.float32)
    batch, height, width, channels = image.shape
    y = np.clip(np.arange(height, dtype=np.float32)[None, :, None] + field[..., 0], 0, height - 1)
    x = np.clip(np.arange(width, dtype=np.float32)[None, None, :] + field[..., 1], 0, width - 1)
    y0, x0 = np.floor(y), np.floor(x)
    wy, wx = (y - y0)[..., None], (x - x0)[..., None]
    y0, x0 = y0.astype(np.intp), x0.astype(np.intp)
    # Flat row indices of the four corners; ``take`` on rows is about twice as fast
    # as indexing with three index arrays.
    down = (y0 < height - 1) * width
    right = (x0 < width - 1).astype(np.intp)
    index = (np.arange(batch, dtype=np.intp)[:, None, None] * height + y0) * width + x0
    flat = image.reshape(-1, channels)
    top_left, top_right = flat.take(index, axis=0), flat.take(index + right, axis=0)
    bottom_left, bottom_right = flat.take(index + down, axis=0), flat.take(index + down + right, axis=0)
    top = top_left + (top_right - top_left) * wx
    bottom = bottom_left + (bottom_right - bottom_left) * wx
    return top + (bottom - top) * wy


def warp_labels(image, labels, field, classes):
    """Warp (B, H, W) images and (B, H, W) class indices below ``classes`` by one field,
    as :func:`acregnet_cli.tf.ops.warp_labels`: the labels are the arg-max of the warped
    one-hot encoding. Returns (warped images, warped class indices as uint8)."""
    labels = np.asarray(labels)
    onehot = (labels[..., None] == np.arange(classes)).astype(np.float32)
    stack = np.concatenate([np.asarray(image, np.float32)[..., None], onehot], axis=-1)
    warped = warp_bilinear(stack, field)
    return warped[..., 0], np.argmax(warped[..., 1:], axis=-1).astype(np.uint8)


def jacobian_determinant(field):
    """Jacobian determinant of ``p -> p + u(p)`` for (B, H, W, 2) fields, as
    :func:`acregnet_cli.tf.ops.jacobian_determinant`."""
    return fields_core.jacobian_determinant(np.asarray(field, np.float64)).astype(np.float32)


def integrate_velocity(velocity, steps):
    """Scaling and squaring of a (B, H, W, 2) velocity field, as :func:`acregnet_cli.tf.ops.integrate_velocity`."""
    displacement = np.asarray(velocity, dtype=np.float32) * np.float32(0.5 ** steps)
    for _ in range(steps):
        displacement = displacement + warp_bilinear(displacement, displacement)
    return displacement
