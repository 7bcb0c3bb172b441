"""The inverse of a displacement field, and how well it inverts.

The warp ``p -> p + u(p)`` maps fixed-image pixels to moving-image points; its
inverse ``q -> q + v(q)`` maps moving-image points back. ``v`` solves
``v(q) + u(q + v(q)) = 0`` at every moving-image pixel ``q``. Two things keep a
solution from existing: ``q`` may be sampled by no fixed-image pixel (the field
pulls from elsewhere), and where the field folds ``q`` is sampled more than once.
"""

import numpy as np

from acregnet_cli.fields.core import (
    _grid,
    _sample,
    check_field,
    grow,
    jacobian_determinant,
)

# Steps of Newton's method longer than this (pixels) are shortened: a near-singular
# linearisation otherwise throws a pixel far from the solution it was close to.
_MAX_STEP = 1.0
# Below this determinant the local linearisation is not trusted (fold, strong compression).
_SINGULAR = 0.1


def _forward_samples(field, supersample):
    """Fixed-image points on a grid ``supersample`` times finer, and where the field maps them."""
    height, width = field.shape[:2]
    offsets = (np.arange(supersample) - (supersample - 1) / 2) / supersample
    rows = np.clip((np.arange(height)[:, None] + offsets).ravel(), 0, height - 1)
    columns = np.clip((np.arange(width)[:, None] + offsets).ravel(), 0, width - 1)
    rows, columns = (grid.ravel() for grid in np.meshgrid(rows, columns, indexing="ij"))
    return rows, columns, rows + _sample(field[..., 0], rows, columns), columns + _sample(field[..., 1], rows, columns)


def _scattered_start(field, supersample=2):
    """A first guess of the inverse from the forward map, and which pixels it reaches.

    Every point of a fine fixed-image grid is mapped forward; each moving-image pixel
    takes, as its first guess, the point whose image lands nearest its centre. Newton's
    method from ``-u(q)`` (the usual start) wanders off where displacements are large
    and vary (a tenth of a radiograph's pixels); from here it converges in a few steps.
    """
    height, width = field.shape[:2]
    rows, columns, mapped_rows, mapped_columns = _forward_samples(field, supersample)
    near_rows, near_columns = np.rint(mapped_rows).astype(np.intp), np.rint(mapped_columns).astype(np.intp)
    inside = np.flatnonzero((near_rows >= 0) & (near_rows < height) & (near_columns >= 0) & (near_columns < width))
    cells = near_rows[inside] * width + near_columns[inside]
    distance = (mapped_rows[inside] - near_rows[inside]) ** 2 + (mapped_columns[inside] - near_columns[inside]) ** 2
    order = np.lexsort((distance, cells))
    cells, inside = cells[order], inside[order]
    first = np.ones(len(cells), bool)
    first[1:] = cells[1:] != cells[:-1]
    cells, inside = cells[first], inside[first]
    start = -field.copy()
    flat = start.reshape(-1, 2)
    flat[cells, 0] = rows[inside] - cells // width
    flat[cells, 1] = columns[inside] - cells % width
    reached = np.zeros(height * width, bool)
    reached[cells] = True
    return start, reached.reshape(height, width)


def invert_field(field, iterations=30, tolerance=1e-4, start=None):
    """The inverse of ``p -> p + u(p)``: ``v`` with ``v(q) + u(q + v(q)) = 0``.

    Starts from the forward map scattered onto the moving grid, then takes Newton
    steps per pixel: each solves the 2x2 system of the residual's linearisation
    (``I + grad u`` at ``q + v(q)``), or where that matrix is near singular (folds,
    strong compression) a damped fixed-point step. Pixels stop as they converge.

    Parameters
    ----------
    field : (H, W, 2) array
    iterations : int
    tolerance : float
        A pixel stops when its residual is below this (pixels).
    start : (H, W, 2) array, optional
        A first guess (a velocity-field model's integrated negated velocity); by
        default the scattered forward map.

    Returns
    -------
    inverse : (H, W, 2) float64
        ``q -> q + v(q)`` undoes the field wherever it does not fold.
    residual : (H, W) float64
        ``|v(q) + u(q + v(q))|`` in pixels: large where no inverse exists (folded
        regions, or moving-image points that no fixed-image pixel samples);
        :func:`inversion_report` summarises it.

    Examples
    --------
    >>> shift = np.zeros((6, 6, 2)); shift[..., 0] = 1.5
    >>> inverse, residual = invert_field(shift)
    >>> float(inverse[3, 3, 0]), float(residual[2:, :].max()) < 1e-6
    (-1.5, True)
    """
    field = check_field(field)
    height, width = field.shape[:2]
    gradients = [np.gradient(field[..., c]) for c in range(2)]
    # u_rows, u_columns, then d u_c / d row and d u_c / d column, as np.gradient takes them.
    channels = [field[..., 0], field[..., 1], gradients[0][0], gradients[0][1], gradients[1][0], gradients[1][1]]
    inverse = _scattered_start(field)[0] if start is None else check_field(start, "start").copy()
    flat = inverse.reshape(-1, 2)
    rows, columns = (grid.ravel() for grid in _grid((height, width)))
    active = np.arange(height * width)
    for _ in range(int(iterations)):
        at = [_sample(channel, rows[active] + flat[active, 0], columns[active] + flat[active, 1])
              for channel in channels]
        residual = flat[active] + np.stack(at[:2], axis=-1)
        moving = np.abs(residual).max(axis=1) >= tolerance
        active, residual = active[moving], residual[moving]
        if not active.size:
            break
        a, b, c, d = 1.0 + at[2][moving], at[3][moving], at[4][moving], 1.0 + at[5][moving]
        determinant = a * d - b * c
        safe = determinant > _SINGULAR
        newton = np.stack([d * residual[:, 0] - b * residual[:, 1], a * residual[:, 1] - c * residual[:, 0]],
                          axis=-1) / np.where(safe, determinant, 1.0)[:, None]
        step = np.where(safe[:, None], newton, 0.5 * residual)
        length = np.hypot(step[:, 0], step[:, 1])
        flat[active] -= step * np.minimum(1.0, _MAX_STEP / np.maximum(length, 1e-12))[:, None]
    return inverse, inverse_residual(field, inverse)


def inverse_residual(field, inverse):
    """``|v(q) + u(q + v(q))|`` in pixels at every pixel q: how far ``inverse`` (v) is
    from undoing ``field`` (u) there.

    Examples
    --------
    >>> shift = np.zeros((4, 4, 2)); shift[..., 1] = 1.0
    >>> float(inverse_residual(shift, -shift)[1, 2]), float(inverse_residual(shift, 0 * shift)[1, 2])
    (0.0, 1.0)
    """
    rows, columns = _grid(field.shape[:2])
    at = [_sample(field[..., c], rows + inverse[..., 0], columns + inverse[..., 1]) for c in range(2)]
    return np.hypot(inverse[..., 0] + at[0], inverse[..., 1] + at[1])


def inversion_report(field, inverse, residual):
    """How well ``inverse`` inverts ``field``: shares of pixels and residuals, in pixels.

    A moving-image pixel is *reached* when some fixed-image point maps onto it (the
    forward map on a grid twice as fine, rounded), and *folded* when its preimage
    ``q + v(q)`` lies within a pixel of a fold of the field (Jacobian determinant at
    most 0), where the inverse is not unique. The residual statistics are over the
    reached pixels outside folded regions, where an inverse exists.

    Returns
    -------
    dict
        ``reached_fraction``, ``folded_fraction``, ``evaluated_fraction``, and
        ``residual_mean_px``, ``residual_p95_px``, ``residual_max_px`` over the
        evaluated pixels (None when there are none), ``residual_mean_all_px``.

    Examples
    --------
    >>> shift = np.zeros((8, 8, 2)); shift[..., 1] = 2.0
    >>> report = inversion_report(shift, *invert_field(shift))
    >>> report["reached_fraction"], report["residual_max_px"] < 1e-6
    (0.75, True)
    """
    field = check_field(field)
    _, reached = _scattered_start(field)
    folds = grow(jacobian_determinant(field) <= 0)
    rows, columns = _grid(field.shape[:2])
    folded = _sample(folds.astype(np.float64), rows + inverse[..., 0], columns + inverse[..., 1], order=0) > 0.5
    evaluated = reached & ~folded
    values = residual[evaluated]
    return {
        "reached_fraction": float(reached.mean()),
        "folded_fraction": float(folded.mean()),
        "evaluated_fraction": float(evaluated.mean()),
        "residual_mean_px": float(values.mean()) if values.size else None,
        "residual_p95_px": float(np.percentile(values, 95)) if values.size else None,
        "residual_max_px": float(values.max()) if values.size else None,
        "residual_mean_all_px": float(residual.mean()),
    }
