"""Global affine maps as displacement fields at network size: fit one to a field, make the
field of one or of its inverse, and bring fields found on a resampled image back to the
image (the corpus pipeline's alignment, :mod:`acregnet_cli.applications.corpus`).

Maps are ``p -> A p + t`` on pixel positions (rows, columns) of an (S, S) grid.
"""

import numpy as np

# The global affine map the atlases' fields agree on must move some pixel of the network's
# grid this far (pixels at network size) before the image is resampled into their frame.
ALIGN_MIN_REACH = 2.0
# How many times an image may be resampled and registered again: the network reaches only so
# far in one call, and a film framed far from the atlases' (from the neck down, say) needs
# more than one (lungs Dice 0.76 -> 0.80 on such a film).
ALIGN_ROUNDS = 3


def _grid(size):
    rows, columns = np.meshgrid(np.arange(size, dtype=np.float64), np.arange(size, dtype=np.float64), indexing="ij")
    return np.stack([rows, columns], axis=-1)


def fit_affine(field):
    """The affine map ``p -> A p + t`` nearest (least squares) to ``p -> p + field(p)`` over an
    (S, S, 2) field in pixels, and how far it moves the grid's farthest pixel.

    Examples
    --------
    >>> field = affine_field(np.array([[1.1, 0.0], [0.05, 0.9]]), np.array([2.0, -1.0]), 16)
    >>> matrix, shift, reach = fit_affine(field)
    >>> np.round(matrix, 3).tolist(), np.round(shift, 3).tolist()
    ([[1.1, 0.0], [0.05, 0.9]], [2.0, -1.0])
    """
    size = field.shape[0]
    points = _grid(size).reshape(-1, 2)
    targets = points + np.asarray(field, np.float64).reshape(-1, 2)
    design = np.concatenate([points, np.ones((len(points), 1))], axis=1)
    solution = np.linalg.lstsq(design, targets, rcond=None)[0]
    matrix, shift = solution[:2].T, solution[2]
    reach = float(np.abs(points @ matrix.T + shift - points).max())
    return matrix, shift, reach


def affine_field(matrix, shift, size, inverse=False):
    """(S, S, 2) float32 displacement of ``p -> A p + t`` (or of its inverse) in pixels."""
    points = _grid(size)
    if inverse:
        inverse_matrix = np.linalg.inv(matrix)
        moved = (points - shift) @ inverse_matrix.T
    else:
        moved = points @ np.asarray(matrix).T + shift
    return (moved - points).astype(np.float32)


def through_inverse(fields, matrix, shift):
    """(B, S, S, 2) fields ``R`` of a resampled image ``C(x) = I(A^-1 (x - t))`` as fields of
    ``I``: ``A^-1 (r + R(r) - t) - r``."""
    size = fields.shape[1]
    points = _grid(size)[None]
    moved = (points + fields - shift) @ np.linalg.inv(matrix).T
    return (moved - points).astype(np.float32)
