"""Displacement fields and label maps in NumPy: the field convention in code.

A field ``u`` is an (H, W, 2) float array in pixels, channel 0 rows (y) and
channel 1 columns (x); the warped image is ``warped(p) = moving(p + u(p))``: the
field lives on the fixed image's grid and says where each of its pixels samples
the moving image. Nothing here imports TensorFlow.
"""

import numpy as np

from acregnet_cli.errors import InputError


def pad_to_square(image):
    """Pad a 2-D array to square with zeros, centred; return it and the crop box.

    Returns
    -------
    padded : ndarray (S, S)
    box : tuple (top, left, height, width) locating the original inside ``padded``.
    """
    height, width = image.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    padded = np.zeros((side, side) + image.shape[2:], dtype=image.dtype)
    padded[top:top + height, left:left + width] = image
    return padded, (top, left, height, width)


def crop(array, box):
    """Inverse of :func:`pad_to_square` for an array of the padded size."""
    top, left, height, width = box
    return array[top:top + height, left:left + width]


def check_registrable(image, name):
    """Reject images the similarity measure cannot use (constant images)."""
    if float(np.ptp(image)) < 1e-6:
        raise InputError(f"{name}: image is constant (normalized cross-correlation is undefined)")


def sampled_outside(field):
    """Where ``p + u(p)`` falls outside the image the (H, W, 2) field warps: beyond the
    outer half of the border pixels, -0.5 or H - 0.5 (rows), -0.5 or W - 0.5 (columns).
    A boolean (H, W) array."""
    field = np.asarray(field)
    height, width = field.shape[:2]
    rows = np.arange(height, dtype=np.float32)[:, None] + field[..., 0]
    columns = np.arange(width, dtype=np.float32)[None, :] + field[..., 1]
    return (rows < -0.5) | (rows > height - 0.5) | (columns < -0.5) | (columns > width - 0.5)


def jacobian_determinant(field):
    """Jacobian determinant of ``x -> x + u(x)`` for a (H, W, 2) field in pixels."""
    du0_dy, du0_dx = np.gradient(field[..., 0])
    du1_dy, du1_dx = np.gradient(field[..., 1])
    return (1.0 + du0_dy) * (1.0 + du1_dx) - du0_dx * du1_dy


def folding_fraction(field):
    """Share of pixels where the Jacobian determinant of ``x -> x + u(x)`` is <= 0."""
    return float(np.mean(jacobian_determinant(field) <= 0))


def onehot(index, classes):
    """(..., classes) float32 one-hot array of class indices below ``classes``."""
    return (index[..., None] == np.arange(classes)).astype(np.float32)


def mask_to_index(label_map):
    """Class indices of a label map by its sorted distinct values; return (indices, values).

    Indices are uint8 when there are at most 256 values.
    """
    label_map = np.asarray(label_map)
    if label_map.dtype.kind in "ui" and label_map.size and 0 <= label_map.min() and label_map.max() < 65536:
        # Label maps are small non-negative integers: counting beats sorting.
        present = np.bincount(label_map.ravel())
        values = np.flatnonzero(present).astype(label_map.dtype)
        lookup = np.zeros(len(present), np.intp)
        lookup[values] = np.arange(len(values))
        index = lookup[label_map]
    else:
        values = np.unique(label_map)
        index = np.searchsorted(values, label_map)
    return index.astype(np.uint8 if len(values) <= 256 else np.int32), values
