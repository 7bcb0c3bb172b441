"""TensorFlow functions for dense 2-D displacement fields: warp, resize, integrate.

Convention used throughout the project: a field ``u`` has shape (B, H, W, 2) in
pixels; channel 0 is the displacement along rows (y), channel 1 along columns (x).
Warping samples the moving image at ``p + u(p)`` with bilinear interpolation;
sample positions outside the image are clamped to the border, so edge pixels
repeat (the behaviour of the original release).

The NumPy engine (:mod:`acregnet_cli.np.ops`) has the same functions under the same names.
"""

import tensorflow as tf


def warp_bilinear(image, field):
    """Warp ``image`` by the displacement ``field`` with bilinear interpolation.

    Parameters
    ----------
    image : Tensor, shape (B, H, W, C)
        Any number of channels (an image, or a one-hot mask).
    field : Tensor, shape (B, H, W, 2)
        Displacement in pixels, channel 0 along rows, channel 1 along columns.

    Returns
    -------
    Tensor, shape (B, H, W, C), the dtype of ``image``.

    Differentiable with respect to the image and to the field (the latter inside
    the image; the border clamp has zero gradient outside).
    """
    image = tf.convert_to_tensor(image)
    field = tf.cast(tf.convert_to_tensor(field), image.dtype)
    if image.shape.rank != 4 or field.shape.rank != 4:
        raise ValueError(f"warp needs (B, H, W, C) image and (B, H, W, 2) field, got {image.shape} and {field.shape}")
    if field.shape[-1] is not None and field.shape[-1] != 2:
        raise ValueError(f"field must have 2 channels (rows, columns), got {field.shape[-1]}")
    if image.shape[:3].is_fully_defined() and field.shape[:3].is_fully_defined() and image.shape[:3] != field.shape[:3]:
        raise ValueError(f"image {image.shape} and field {field.shape} differ in batch or size")
    shape = tf.shape(image)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    index, right, down, wy, wx = _corners(field, batch, height, width)
    # One gather per corner over the flattened batch of pixels.
    flat = tf.reshape(image, [-1, channels])
    wy, wx = wy[..., None], wx[..., None]
    top = tf.gather(flat, index) * (1.0 - wx) + tf.gather(flat, index + right) * wx
    bottom = tf.gather(flat, index + down) * (1.0 - wx) + tf.gather(flat, index + down + right) * wx
    return top * (1.0 - wy) + bottom * wy


def _corners(field, batch, height, width):
    """Flat index of each sample's top-left corner in a (B*H*W) pixel list, the
    offsets to its right and lower neighbours (0 on the last column / row, where the
    border is clamped) and the bilinear weights (wy, wx) of the lower / right ones."""
    dtype = field.dtype
    rows = tf.cast(tf.range(height), dtype)[None, :, None]
    cols = tf.cast(tf.range(width), dtype)[None, None, :]
    y = tf.clip_by_value(rows + field[..., 0], 0.0, tf.cast(height - 1, dtype))
    x = tf.clip_by_value(cols + field[..., 1], 0.0, tf.cast(width - 1, dtype))
    y0, x0 = tf.floor(y), tf.floor(x)
    y0i, x0i = tf.cast(y0, tf.int32), tf.cast(x0, tf.int32)
    right = tf.cast(x0i < width - 1, tf.int32)
    down = tf.cast(y0i < height - 1, tf.int32) * width
    index = (tf.range(batch)[:, None, None] * height + y0i) * width + x0i
    return index, right, down, y - y0, x - x0


def warp_labels(image, labels, field, classes):
    """Warp an image and a label map of class indices by one field.

    The label map is warped as :func:`warp_bilinear` would warp its one-hot encoding
    followed by an arg-max over classes (the same arithmetic, so the same classes,
    ties included), but only the four corner labels are gathered, not ``classes``
    float channels.

    Parameters
    ----------
    image : Tensor, shape (B, H, W), float
    labels : Tensor, shape (B, H, W), integer class indices below ``classes``
    field : Tensor, shape (B, H, W, 2)
    classes : int

    Returns
    -------
    (warped image (B, H, W) float32, warped class indices (B, H, W) uint8)
    """
    image = tf.convert_to_tensor(image, tf.float32)
    field = tf.cast(tf.convert_to_tensor(field), tf.float32)
    if image.shape.rank != 3 or field.shape.rank != 4:
        raise ValueError(f"warp_labels needs (B, H, W) image and (B, H, W, 2) field, got {image.shape} and {field.shape}")
    shape = tf.shape(image)
    index, right, down, wy, wx = _corners(field, shape[0], shape[1], shape[2])
    # Image and class index travel as the two channels of one gather per corner.
    flat = tf.reshape(tf.stack([image, tf.cast(labels, tf.float32)], axis=-1), [-1, 2])
    corners = [tf.gather(flat, index + offset) for offset in (0, right, down, down + right)]
    top = corners[0][..., 0] * (1.0 - wx) + corners[1][..., 0] * wx
    bottom = corners[2][..., 0] * (1.0 - wx) + corners[3][..., 0] * wx
    warped = top * (1.0 - wy) + bottom * wy
    values = tf.range(classes, dtype=tf.float32)
    onehot = [tf.cast(corner[..., 1:] == values, tf.float32) for corner in corners]
    wy, wx = wy[..., None], wx[..., None]
    votes = ((onehot[0] * (1.0 - wx) + onehot[1] * wx) * (1.0 - wy)
             + (onehot[2] * (1.0 - wx) + onehot[3] * wx) * wy)
    return warped, tf.cast(tf.argmax(votes, axis=-1), tf.uint8)


def _central_gradient(values, axis):
    """Derivative along ``axis`` (1: rows, 2: columns) as ``numpy.gradient`` takes it:
    central differences inside, one-sided at the two edges."""
    size = tf.shape(values)[axis]
    first = tf.gather(values, [1], axis=axis) - tf.gather(values, [0], axis=axis)
    last = tf.gather(values, [size - 1], axis=axis) - tf.gather(values, [size - 2], axis=axis)
    inside = (tf.gather(values, tf.range(2, size), axis=axis) - tf.gather(values, tf.range(0, size - 2), axis=axis)) / 2
    return tf.concat([first, inside, last], axis=axis)


def jacobian_determinant(field):
    """Jacobian determinant of ``p -> p + u(p)`` for (B, H, W, 2) fields in pixels
    (rows, columns), by the central differences of the project's ``folding_fraction``.

    Examples
    --------
    >>> import numpy as np
    >>> rows, columns = np.meshgrid(np.arange(8.0), np.arange(8.0), indexing="ij")
    >>> stretch = tf.constant(np.stack([0.5 * rows, 0 * columns], -1)[None], tf.float32)
    >>> float(tf.reduce_mean(jacobian_determinant(stretch)))
    1.5
    """
    field = tf.convert_to_tensor(field)
    d_rows, d_columns = _central_gradient(field, 1), _central_gradient(field, 2)
    return (1.0 + d_rows[..., 0]) * (1.0 + d_columns[..., 1]) - d_columns[..., 0] * d_rows[..., 1]


def integrate_velocity(velocity, steps):
    """Displacement of the flow of a stationary velocity field, by scaling and squaring.

    The velocity is scaled by ``2**-steps`` and the small displacement composed with
    itself ``steps`` times (``u <- u + u o (id + u)``), which approximates the group
    exponential ``exp(v)``: a smooth velocity gives an invertible, fold-free map even
    where using ``v`` itself as a displacement would fold.

    Parameters
    ----------
    velocity : Tensor, shape (B, H, W, 2)
        In pixels, channels as in :func:`warp_bilinear`.
    steps : int
        Number of squarings; 0 returns ``velocity`` unchanged (a plain displacement).

    Returns
    -------
    Tensor, shape (B, H, W, 2): the displacement, in pixels.

    A constant velocity integrates to itself (a translation); samples are clamped at
    the border as in :func:`warp_bilinear`.
    """
    velocity = tf.convert_to_tensor(velocity)
    check_steps(steps)
    displacement = velocity * (0.5 ** steps)
    for _ in range(steps):
        displacement = displacement + warp_bilinear(displacement, displacement)
    return displacement


def check_steps(steps):
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"integration steps must be a non-negative integer, got {steps!r}")
    return steps


def resize_images(images, size, method="legacy"):
    """Resize a (B, H, W, C) batch to ``size`` (int or (h, w)) bilinearly.

    ``method='legacy'`` reproduces TensorFlow 1's ``resize_bilinear`` with
    ``align_corners=False`` and no half-pixel centres (source coordinate
    ``i * in / out``), which the original release used between 256 and 64 pixels;
    ``method='modern'`` uses half-pixel centres (``tf.image.resize``), which keeps
    the image centred and is what current libraries do.
    """
    if isinstance(size, int):
        size = (size, size)
    if method == "legacy":
        images = tf.convert_to_tensor(images)
        resized = tf.raw_ops.ResizeBilinear(images=images, size=size, align_corners=False, half_pixel_centers=False)
        return tf.cast(resized, images.dtype) if images.dtype in (tf.float16, tf.float64) else resized
    if method == "modern":
        return tf.image.resize(images, size, method="bilinear", antialias=False)
    raise ValueError(f"unknown resize method {method!r}: use 'legacy' or 'modern'")


def resize_field_by_matrices(field, size, method="legacy"):
    """:func:`resize_field` as two matrix products per channel (static shapes only).

    Same values to float rounding; on a 2-core CPU it upsampled a batch of 64x64
    fields to 256x256 faster than the resize kernel, and it compiles under XLA.
    """
    from acregnet_cli.np.ops import interpolation_matrix

    if isinstance(size, int):
        size = (size, size)
    in_h, in_w = field.shape[1], field.shape[2]
    if in_h is None or in_w is None:
        raise ValueError(f"resize_field_by_matrices needs a static field size, got {field.shape}")
    rows = tf.constant(interpolation_matrix(in_h, size[0], method), field.dtype)
    columns = tf.constant(interpolation_matrix(in_w, size[1], method), field.dtype)
    resized = tf.einsum("ij,bjkc,lk->bilc", rows, field, columns)
    return resized * tf.constant([size[0] / in_h, size[1] / in_w], field.dtype)


def resize_field(field, size, method="legacy"):
    """Resize a displacement field to ``size`` and scale its values to the new pixel size."""
    if isinstance(size, int):
        size = (size, size)
    in_h = tf.cast(tf.shape(field)[1], field.dtype)
    in_w = tf.cast(tf.shape(field)[2], field.dtype)
    resized = resize_images(field, size, method)
    scale = tf.stack([size[0] / in_h, size[1] / in_w])
    return resized * tf.cast(scale, field.dtype)

