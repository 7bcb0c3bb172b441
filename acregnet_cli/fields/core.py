"""The field convention in code: padding, checks, warps, composition, points, Jacobian.

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


# --------------------------------------------------------------------------- using a saved field
# A field u maps each pixel p of the fixed image to p + u(p) in the moving image. Bilinear
# sampling with the border clamped is scipy's map_coordinates with order 1 and mode
# "nearest" (the edge value extends), the engines' warp to float rounding.


def _sample(array, rows, columns, order=1):
    from scipy import ndimage

    return ndimage.map_coordinates(array, [rows, columns], order=order, mode="nearest")


def _grid(shape):
    return np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)


def check_field(field, name="field"):
    """An (H, W, 2) finite float field, or an InputError naming ``name``."""
    field = np.asarray(field)
    if field.ndim != 3 or field.shape[-1] != 2 or min(field.shape[:2]) < 2:
        raise InputError(f"{name}: a displacement field is (H, W, 2), got shape {field.shape}")
    if field.dtype.kind not in "fiu" or not np.all(np.isfinite(field)):
        raise InputError(f"{name}: field holds NaN, infinite or non-numeric values")
    return field.astype(np.float64)


def warp_image(image, field):
    """``moving(p + u(p))`` for a 2-D image: bilinear, border clamped (as ``register`` warps).

    Examples
    --------
    >>> image = np.arange(16.0).reshape(4, 4)
    >>> shift = np.zeros((4, 4, 2)); shift[..., 1] = 1.0       # sample one column to the right
    >>> warp_image(image, shift)[0].tolist()
    [1.0, 2.0, 3.0, 3.0]
    """
    field = check_field(field)
    rows, columns = _grid(field.shape[:2])
    return _sample(np.asarray(image, np.float64), rows + field[..., 0], columns + field[..., 1])


def warp_labels(labels, field):
    """A label map warped label-safely: each class warped as a one-hot channel, then the
    arg-max, written with the map's own values (as ``register --mask`` warps masks).

    Examples
    --------
    >>> labels = np.array([[0, 0, 7, 7]] * 4)
    >>> shift = np.zeros((4, 4, 2)); shift[..., 1] = -1.0
    >>> warp_labels(labels, shift)[0].tolist()
    [0, 0, 0, 7]
    """
    field = check_field(field)
    index, values = mask_to_index(labels)
    rows, columns = _grid(field.shape[:2])
    rows, columns = rows + field[..., 0], columns + field[..., 1]
    votes = np.stack([_sample((index == k).astype(np.float64), rows, columns) for k in range(len(values))], axis=-1)
    return values[np.argmax(votes, axis=-1)]


def compose_fields(first, second):
    """The field of warping by ``first`` and then by ``second``: ``second(p) + first(p + second(p))``.

    ``warp_image(warp_image(m, first), second)`` equals ``warp_image(m, compose_fields(first,
    second))`` up to interpolation, with one interpolation of the image instead of two.

    Examples
    --------
    >>> a = np.zeros((5, 5, 2)); a[..., 0] = 1.0
    >>> b = np.zeros((5, 5, 2)); b[..., 1] = 2.0
    >>> compose_fields(a, b)[2, 2].tolist()
    [1.0, 2.0]
    """
    first, second = check_field(first, "first"), check_field(second, "second")
    rows, columns = _grid(second.shape[:2])
    rows, columns = rows + second[..., 0], columns + second[..., 1]
    return second + np.stack([_sample(first[..., c], rows, columns) for c in range(2)], axis=-1)


def map_points(points, field):
    """Where fixed-image points land in the moving image: ``p + u(p)``, u interpolated.

    ``points`` is (N, 2) in pixels, (row, column). To map moving-image points into the
    fixed image, map them through the inverse field (:func:`invert_field`).

    Examples
    --------
    >>> shift = np.zeros((8, 8, 2)); shift[..., 1] = 3.0
    >>> map_points([[2.0, 1.5]], shift).tolist()
    [[2.0, 4.5]]
    """
    field = check_field(field)
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or not np.all(np.isfinite(points)):
        raise InputError(f"points: expected (N, 2) finite (row, column) coordinates, got shape {points.shape}")
    height, width = field.shape[:2]
    outside = (points[:, 0] < -0.5) | (points[:, 0] > height - 0.5) | (points[:, 1] < -0.5) | (points[:, 1] > width - 0.5)
    if outside.any():
        raise InputError(f"points: {int(outside.sum())} point(s) outside the {width}x{height} image "
                         f"(first: {points[outside][0].tolist()})")
    displacement = np.stack([_sample(field[..., c], points[:, 0], points[:, 1]) for c in range(2)], axis=-1)
    return points + displacement
