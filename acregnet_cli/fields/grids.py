"""Network-size fields read at other resolutions without resizing them whole: at scattered
pixels (:func:`field_at`) or on a square grid of positions (:func:`field_on_grid`), with
the half-pixel convention of :func:`acregnet_cli.np.ops.resize_images`.
"""

import numpy as np


def _weights(source, target, method="modern"):
    """Lower and upper source indices and the upper weight of a 1-D bilinear resample
    of ``target`` output positions (may be fractional) from a grid of ``source``."""
    coords = np.clip(np.asarray(target, np.float32), 0, source - 1)
    lower = np.floor(coords)
    weight = coords - lower
    lower = lower.astype(np.intp)
    return lower, np.minimum(lower + 1, source - 1), weight


def field_at(field, rows, columns, side):
    """The network-size (S, S, 2) field resized to ``side`` (as ``resize_field``, half-pixel
    centres) and read at pixels (rows, columns) of that grid (1-D arrays), scaled to its
    pixels: (N, 2)."""
    size = field.shape[0]
    scale = np.float32(side / size)
    r0, r1, wr = _weights(size, (np.asarray(rows, np.float32) + 0.5) / scale - 0.5)
    c0, c1, wc = _weights(size, (np.asarray(columns, np.float32) + 0.5) / scale - 0.5)
    a, b, c, d = r0 * size + c0, r0 * size + c1, r1 * size + c0, r1 * size + c1
    out = np.empty((len(a), 2), np.float32)
    for channel in range(2):
        flat = field[..., channel].ravel()
        top = flat.take(a) + (flat.take(b) - flat.take(a)) * wc
        bottom = flat.take(c) + (flat.take(d) - flat.take(c)) * wc
        out[:, channel] = (top + (bottom - top) * wr) * scale
    return out


def _axis_matrix(size, positions, scale):
    """(N, size) matrix of the bilinear weights reading a ``size`` grid, resized by
    ``scale`` with half-pixel centres, at ``positions`` of the resized grid."""
    lower, upper, weight = _weights(size, (np.asarray(positions, np.float32) + 0.5) / scale - 0.5)
    matrix = np.zeros((len(lower), size), np.float32)
    rows = np.arange(len(lower))
    np.add.at(matrix, (rows, lower), 1.0 - weight)
    np.add.at(matrix, (rows, upper), weight)
    return matrix


def field_on_grid(fields, positions, side):
    """(B, S, S, 2) network-size fields resized to ``side`` and read on the square grid of
    ``positions`` (1-D, pixels of that grid): (B, N, N, 2), two matrix products per channel."""
    size = fields.shape[1]
    scale = np.float32(side / size)
    matrix = _axis_matrix(size, positions, scale)
    return np.einsum("ir,brcx,jc->bijx", matrix, fields, matrix, optimize=True) * scale
