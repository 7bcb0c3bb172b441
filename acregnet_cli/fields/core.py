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
    box = ((side - height) // 2, (side - width) // 2, height, width)
    return uncrop(image, box, (side, side)), box


def crop(array, box):
    """Inverse of :func:`pad_to_square` for an array of the padded size: the part of
    ``array`` in ``box`` (top, left, height, width)."""
    top, left, height, width = box
    return array[top:top + height, left:left + width]


def uncrop(array, box, shape):
    """Inverse of :func:`crop`: ``array`` placed at ``box`` in zeros of ``shape`` (rows,
    columns; further axes are ``array``'s own).

    Examples
    --------
    >>> uncrop(np.ones((1, 2), int), (1, 0, 1, 2), (2, 3)).tolist()
    [[0, 0, 0], [1, 1, 0]]
    """
    top, left, height, width = box
    whole = np.zeros(tuple(shape[:2]) + array.shape[2:], dtype=array.dtype)
    whole[top:top + height, left:left + width] = array
    return whole


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
    """Jacobian determinant of ``x -> x + u(x)`` for a (..., H, W, 2) field in pixels
    (a batch too), by ``numpy.gradient``'s differences."""
    du0_dy, du0_dx = np.gradient(field[..., 0], axis=(-2, -1))
    du1_dy, du1_dx = np.gradient(field[..., 1], axis=(-2, -1))
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
# A field u maps each pixel p of the fixed image to p + u(p) in the moving image, sampled
# bilinearly with positions clamped to the image (the edge value extends), as the
# engines warp. Written here in NumPy rather than with scipy's map_coordinates: importing
# scipy.ndimage and building coordinate grids cost a 2048x2048 warp more than the warp.


def _corners(shape, rows, columns):
    """Flat indices of the top-left corner, the offsets to the right and lower
    neighbours (0 on the last column or row), and the fractional weights."""
    height, width = shape
    rows = np.clip(rows, 0, height - 1)
    columns = np.clip(columns, 0, width - 1)
    top, left = np.floor(rows), np.floor(columns)
    weight_rows, weight_columns = rows - top, columns - left
    top, left = top.astype(np.intp), left.astype(np.intp)
    index = top * width + left
    return index, (left < width - 1).astype(np.intp), (top < height - 1) * width, weight_rows, weight_columns


def _lerp(flat, corners):
    index, right, down, weight_rows, weight_columns = corners
    top_left, top_right = flat.take(index), flat.take(index + right)
    bottom_left, bottom_right = flat.take(index + down), flat.take(index + down + right)
    top = top_left + (top_right - top_left) * weight_columns
    bottom = bottom_left + (bottom_right - bottom_left) * weight_columns
    return top + (bottom - top) * weight_rows


def _sample(array, rows, columns, order=1):
    """``array`` at (rows, columns): bilinear (``order`` 1) or nearest (0), positions clamped."""
    array = np.asarray(array)
    if order == 0:
        rows = np.clip(np.rint(rows), 0, array.shape[0] - 1).astype(np.intp)
        columns = np.clip(np.rint(columns), 0, array.shape[1] - 1).astype(np.intp)
        return array[rows, columns]
    return _lerp(array.ravel(), _corners(array.shape, rows, columns))


def _grid(shape):
    return np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)


def _positions(field):
    """Where the field samples: rows and columns of p + u(p), in the field's precision."""
    dtype = field.dtype
    return (np.arange(field.shape[0], dtype=dtype)[:, None] + field[..., 0],
            np.arange(field.shape[1], dtype=dtype)[None, :] + field[..., 1])


def check_field(field, name="field", dtype=np.float64):
    """An (H, W, 2) finite float field (as ``dtype``), or an InputError naming ``name``."""
    field = np.asarray(field)
    if field.ndim != 3 or field.shape[-1] != 2 or min(field.shape[:2]) < 2:
        raise InputError(f"{name}: a displacement field is (H, W, 2), got shape {field.shape}")
    if field.dtype.kind not in "fiu" or not np.all(np.isfinite(field)):
        raise InputError(f"{name}: field holds NaN, infinite or non-numeric values")
    return field.astype(dtype, copy=False)


class FieldSampler:
    """A field's sampling positions, computed once, for warping several images and label
    maps of its grid (what ``acregnet warp`` does with an image and its masks).

    Examples
    --------
    >>> shift = np.zeros((4, 4, 2), np.float32); shift[..., 1] = 1.0
    >>> sampler = FieldSampler(shift)
    >>> sampler.image(np.arange(16.0).reshape(4, 4))[0].tolist(), sampler.labels(np.eye(4, dtype=int) * 3)[0].tolist()
    ([1.0, 2.0, 3.0, 3.0], [0, 0, 0, 0])
    """

    def __init__(self, field):
        # A float32 field (what register saves) is applied in float32: six times as fast
        # at 2048x2048 as float64, and register warped in float32 too.
        self.field = check_field(field, dtype=np.float32 if np.asarray(field).dtype == np.float32 else np.float64)
        self.shape = self.field.shape[:2]
        self._corners = _corners(self.shape, *_positions(self.field))

    def _check(self, array, what):
        if array.shape != self.shape:
            raise InputError(f"{what}: {array.shape[1]}x{array.shape[0]} pixels, the field's grid "
                             f"{self.shape[1]}x{self.shape[0]}")

    def image(self, image):
        """``image(p + u(p))``, bilinear."""
        image = np.asarray(image, self.field.dtype)
        self._check(image, "image")
        return _lerp(image.ravel(), self._corners).reshape(self.shape)

    def labels(self, labels):
        """The label map warped label-safely (see :func:`warp_labels`)."""
        index, values = mask_to_index(labels)
        self._check(index, "label map")
        return values[_corner_vote(index, self._corners, len(values), self.field.dtype)]


def _corner_vote(index, corners, classes, dtype=np.float32):
    """Class indices of ``index`` at the positions ``corners`` (from :func:`_corners`): each
    class's one-hot channel interpolated bilinearly and the first largest vote kept
    (np.argmax's tie rule, as warping one-hot channels and taking the arg-max)."""
    at, right, down, weight_rows, weight_columns = corners
    flat = index.ravel()
    # The four corners' classes are gathered once. Where they agree (all but the
    # boundaries) that class is the answer; only elsewhere are votes interpolated.
    values = [flat.take(at), flat.take(at + right), flat.take(at + down), flat.take(at + down + right)]
    result = values[0].copy()
    mixed = (values[0] != values[1]) | (values[0] != values[2]) | (values[0] != values[3])
    if not mixed.any():
        return result
    values = [value[mixed] for value in values]
    weight_rows, weight_columns = weight_rows[mixed], weight_columns[mixed]
    best_vote, best = None, np.zeros(len(values[0]), index.dtype)
    for k in range(classes):
        top_left, top_right, bottom_left, bottom_right = ((value == k).astype(dtype) for value in values)
        top = top_left + (top_right - top_left) * weight_columns
        bottom = bottom_left + (bottom_right - bottom_left) * weight_columns
        vote = top + (bottom - top) * weight_rows
        if best_vote is None:
            best_vote = vote
        else:
            better = vote > best_vote
            best[better], best_vote[better] = k, vote[better]
    result[mixed] = best
    return result


def vote_labels(index, rows, columns, classes):
    """Class indices (below ``classes``) of the index map ``index`` read at fractional
    (rows, columns), label-safely: as warping its one-hot channels bilinearly (positions
    clamped to the map) and taking the arg-max.

    Examples
    --------
    >>> index = np.array([[0, 0, 1, 1]] * 2, np.uint8)
    >>> vote_labels(index, np.zeros(3), np.array([0.4, 1.4, 1.6]), 2).tolist()
    [0, 0, 1]
    """
    return _corner_vote(index, _corners(index.shape, rows, columns), classes,
                        np.asarray(rows).dtype if np.asarray(rows).dtype.kind == "f" else np.float64)


def grow(mask):
    """``mask`` and its 8 neighbours (a 3x3 binary dilation, without importing scipy.ndimage).

    Examples
    --------
    >>> grow(np.eye(3, dtype=bool)[::-1] & np.eye(3, dtype=bool)).astype(int).tolist()
    [[1, 1, 1], [1, 1, 1], [1, 1, 1]]
    """
    padded = np.pad(mask, 1)
    height, width = mask.shape
    grown = np.zeros_like(mask)
    for dy in range(3):
        for dx in range(3):
            grown |= padded[dy:dy + height, dx:dx + width]
    return grown


def warp_image(image, field):
    """``moving(p + u(p))`` for a 2-D image: bilinear, border clamped (as ``register`` warps).

    Examples
    --------
    >>> image = np.arange(16.0).reshape(4, 4)
    >>> shift = np.zeros((4, 4, 2)); shift[..., 1] = 1.0       # sample one column to the right
    >>> warp_image(image, shift)[0].tolist()
    [1.0, 2.0, 3.0, 3.0]
    """
    return FieldSampler(field).image(image)


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
    return FieldSampler(field).labels(labels)


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
    rows, columns = _positions(second)
    return second + np.stack([_sample(first[..., c], rows, columns) for c in range(2)], axis=-1)


def map_points(points, field, order="row-column"):
    """Where fixed-image points land in the moving image: ``p + u(p)``, u interpolated.

    ``points`` is (N, 2) in pixels, in ``order``: 'row-column' (the field's own order,
    the default) or 'xy' (x along columns first, as ``warp --points`` CSVs and most
    viewers give them); the result comes in the same order. To map moving-image points
    into the fixed image, map them through the inverse field (:func:`invert_field`).

    Examples
    --------
    >>> shift = np.zeros((8, 8, 2)); shift[..., 1] = 3.0     # 3 px along columns (x)
    >>> map_points([[2.0, 1.5]], shift).tolist()
    [[2.0, 4.5]]
    >>> map_points([[1.5, 2.0]], shift, order="xy").tolist()
    [[4.5, 2.0]]
    """
    if order not in ("row-column", "xy"):
        raise InputError(f"order must be 'row-column' or 'xy', got {order!r}")
    if order == "xy":
        return map_points(np.asarray(points, np.float64)[:, ::-1], field)[:, ::-1]
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


def upsample_labels(labels, factor, shape):
    """A label map made on an image reduced by ``factor`` brought back to the stored ``shape``.

    Each stored pixel takes the label of the reduced pixel whose block holds it
    (the reduction averaged blocks of ``factor`` x ``factor``); rows or columns beyond
    the last whole block take the nearest block's label.

    Examples
    --------
    >>> upsample_labels(np.array([[0, 1], [2, 3]]), 2, (5, 4)).tolist()
    [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3], [2, 2, 3, 3]]
    """
    labels = np.asarray(labels)
    if factor == 1 and labels.shape == tuple(shape):
        return labels
    rows = np.minimum(np.arange(shape[0]) // factor, labels.shape[0] - 1)
    columns = np.minimum(np.arange(shape[1]) // factor, labels.shape[1] - 1)
    return labels[np.ix_(rows, columns)]
