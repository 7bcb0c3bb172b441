"""NumPy versions of the resize and warp operations of :mod:`acregnet_cli.layers`.

They reproduce TensorFlow's results to float rounding (tests check it) and let a
single registration run without starting TensorFlow (see :mod:`acregnet_cli.lite`).
Arrays are batched like the TensorFlow ones: (B, H, W, C).
"""

import numpy as np


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
    batch, height, width, channels = image.shape
    y = np.clip(np.arange(height, dtype=np.float32)[None, :, None] + field[..., 0], 0, height - 1)
    x = np.clip(np.arange(width, dtype=np.float32)[None, None, :] + field[..., 1], 0, width - 1)
    y0, x0 = np.floor(y), np.floor(x)
    wy, wx = (y - y0)[..., None], (x - x0)[..., None]
    y0, x0 = y0.astype(np.int64), x0.astype(np.int64)
    y1, x1 = np.minimum(y0 + 1, height - 1), np.minimum(x0 + 1, width - 1)
    b = np.arange(batch)[:, None, None]
    top = image[b, y0, x0] * (1 - wx) + image[b, y0, x1] * wx
    bottom = image[b, y1, x0] * (1 - wx) + image[b, y1, x1] * wx
    return top * (1 - wy) + bottom * wy
