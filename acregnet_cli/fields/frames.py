"""The frames ``register`` works in, so that every tool maps pixels as ``register`` did.

A moving image of another size than the fixed one: ``register`` pads both to square
(centred) and resizes the moving square to the fixed square's side (bilinear, half-pixel
centres); the field, on the fixed grid, points into that resized moving square. An image
longer than ``--max-side`` is reduced by an integer factor ``k`` (block means), each
reduced pixel standing for the centre of its ``k`` x ``k`` block.
"""

import numpy as np

from acregnet_cli.fields.core import (
    FieldSampler,
    check_field,
    crop,
    mask_to_index,
    pad_to_square,
    sampled_outside,
    uncrop,
)
from acregnet_cli.fields.grids import _weights


def _resample_axis(array, positions, axis):
    """``array`` read bilinearly at fractional ``positions`` along ``axis`` (clamped)."""
    lower, upper, weight = _weights(array.shape[axis], positions)
    shape = [1] * array.ndim
    shape[axis] = -1
    low = np.take(array, lower, axis=axis)
    return low + (np.take(array, upper, axis=axis) - low) * weight.reshape(shape)


def _resize_square(square, side):
    """A square (S, S[, C]) array resized to ``side`` with half-pixel centres, as
    :func:`acregnet_cli.np.ops.resize_images` with ``'modern'``."""
    if square.shape[0] == side:
        return square
    positions = (np.arange(side, dtype=np.float64) + 0.5) * (square.shape[0] / side) - 0.5
    return _resample_axis(_resample_axis(square, positions, 0), positions, 1)


def _pads(shape, side):
    return np.array([(side - shape[0]) // 2, (side - shape[1]) // 2], np.float64)


def itk_moving_frame(moving_shape, fixed_shape, spacing):
    """The origin and spacing (x, y) to give the moving image in ITK so that resampling it
    through field.nii.gz (a DisplacementFieldTransform on the fixed grid: origin 0, the
    fixed spacing) reproduces ``warped.png``.

    ``register`` pads both images to square (centred) and resizes the moving square to
    the fixed square's side with pixel centres aligned (half-pixel convention), so a
    moving pixel ``i`` sits at ``spacing * ((i + 0.5 + pad_m) * S_f / S_m - 0.5 - pad_f)``.
    Equal sizes give origin 0 and the fixed spacing.

    Examples
    --------
    >>> itk_moving_frame((128, 128), (256, 256), 1.0)
    {'origin': [0.5, 0.5], 'spacing': [2.0, 2.0]}
    """
    moving_side, fixed_side = max(moving_shape[:2]), max(fixed_shape[:2])
    scale = fixed_side / moving_side
    origin = []
    for axis in (1, 0):  # ITK's x is the column axis
        pad_moving = (moving_side - moving_shape[axis]) // 2
        pad_fixed = (fixed_side - fixed_shape[axis]) // 2
        origin.append(float(spacing * ((0.5 + pad_moving) * scale - 0.5 - pad_fixed)))
    return {"origin": origin, "spacing": [float(spacing * scale)] * 2}


def moving_to_grid(points, moving_shape, grid_shape):
    """(row, column) pixels of a moving image of ``moving_shape`` as positions on the
    fixed grid ``grid_shape`` (where ``register`` put that pixel before warping).

    Examples
    --------
    >>> moving_to_grid(np.array([[0.0, 0.0], [255.0, 127.5]]), (256, 256), (1024, 1024)).tolist()
    [[1.5, 1.5], [1021.5, 511.5]]
    """
    moving_side, grid_side = max(moving_shape[:2]), max(grid_shape[:2])
    scale = grid_side / moving_side
    points = np.asarray(points, np.float64)
    return (points + 0.5 + _pads(moving_shape, moving_side)) * scale - 0.5 - _pads(grid_shape, grid_side)


def grid_to_moving(points, moving_shape, grid_shape):
    """Inverse of :func:`moving_to_grid`: fixed-grid positions as the moving file's pixels.

    Examples
    --------
    >>> grid_to_moving(np.array([[1.5, 1.5]]), (256, 256), (1024, 1024)).tolist()
    [[0.0, 0.0]]
    """
    moving_side, grid_side = max(moving_shape[:2]), max(grid_shape[:2])
    scale = moving_side / grid_side
    points = np.asarray(points, np.float64)
    return (points + 0.5 + _pads(grid_shape, grid_side)) * scale - 0.5 - _pads(moving_shape, moving_side)


def warp_moving(moving, field, labels=False, clear_outside=False):
    """``moving`` of any size warped by ``field`` (on the fixed grid) as ``register`` warps
    it: padded to square, resized to the fixed square's side (a label map one class at a
    time, then the arg-max), sampled, cropped to the fixed frame. A moving image of the
    field's size is sampled directly (:class:`~acregnet_cli.fields.FieldSampler`).

    ``clear_outside`` sets labels sampled from outside the moving image to background
    (``register --mask-outside background``).

    Examples
    --------
    >>> field = np.zeros((4, 4, 2), np.float32)
    >>> warp_moving(np.arange(4.0).reshape(2, 2), field).round(2).tolist()[0]
    [0.0, 0.25, 0.75, 1.0]
    """
    field = check_field(field, dtype=np.float32 if np.asarray(field).dtype == np.float32 else np.float64)
    moving = np.asarray(moving)
    if moving.shape == field.shape[:2] and not clear_outside:
        sampler = FieldSampler(field)
        return sampler.labels(moving) if labels else sampler.image(moving)
    moving_square, _ = pad_to_square(moving)
    side = max(field.shape[:2])
    box = pad_to_square(np.empty(field.shape[:2], np.bool_))[1]
    square_field = uncrop(field, box, (side, side))
    sampler = FieldSampler(square_field)
    if not labels:
        return crop(sampler.image(_resize_square(moving_square.astype(field.dtype), side)), box)
    index, values = mask_to_index(moving_square)
    best = np.zeros((side, side), np.intp)
    best_vote = None
    for k in range(len(values)):
        vote = sampler.image(_resize_square((index == k).astype(field.dtype), side))
        if best_vote is None:
            best_vote = vote
        else:
            # The first largest vote wins, as an arg-max over warped one-hot channels.
            better = vote > best_vote
            best[better] = k
            best_vote = np.maximum(vote, best_vote)
    warped = values[best]
    if clear_outside:
        zero = np.flatnonzero(values == 0)
        warped[sampled_outside(square_field)] = values[zero[0]] if zero.size else 0
    return crop(warped, box)


def field_at_stored_size(field, factor, shape):
    """A field found on an image reduced by ``factor`` brought to its stored ``shape``:
    stored pixel ``s`` sits at ``(s - (k - 1) / 2) / k`` of the reduced grid, where the
    field is read bilinearly (clamped at the border) and scaled by ``k``.

    Examples
    --------
    >>> small = np.ones((2, 2, 2), np.float32)
    >>> big = field_at_stored_size(small, 2, (4, 3))
    >>> big.shape, float(big.min()), float(big.max())
    ((4, 3, 2), 2.0, 2.0)
    """
    field = np.asarray(field)
    if factor == 1 and field.shape[:2] == tuple(shape):
        return field
    rows = (np.arange(shape[0], dtype=np.float64) - (factor - 1) / 2) / factor
    columns = (np.arange(shape[1], dtype=np.float64) - (factor - 1) / 2) / factor
    resampled = _resample_axis(_resample_axis(field, rows, 0), columns, 1)
    return (resampled * factor).astype(field.dtype)
