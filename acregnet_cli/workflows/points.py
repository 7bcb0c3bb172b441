"""``warp --points``: landmarks mapped through a saved field, in the pixels of the files
they belong to (fixed-image points in the fixed file's pixels, moving-image points in the
moving file's, whatever their sizes)."""

import csv
import io
from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError
from acregnet_cli.workflows.fields import field_inverse, field_source, moving_shape

POINT_DIRECTIONS = ("fixed-to-moving", "moving-to-fixed")


def read_points(path):
    """A CSV of points with columns ``x`` (column) and ``y`` (row) in pixels, other
    columns kept; returns (rows of dicts, (N, 2) array of (row, column))."""
    from acregnet_cli.io.tables import read_table

    path = Path(path)
    _, records = read_table(path, "points file")
    if not records or not {"x", "y"} <= set(records[0]):
        raise InputError(f"{path}: expected a CSV with columns x and y (pixels; x along columns) and a row per point")
    coordinates = []
    for number, record in enumerate(records, 2):
        try:
            coordinates.append((float(record["y"]), float(record["x"])))
        except (TypeError, ValueError):
            raise InputError(f"{path}: line {number}: x and y must be numbers, got {record['x']!r}, "
                             f"{record['y']!r}") from None
    return records, np.array(coordinates, np.float64).reshape(-1, 2)


def _checked(points, shape, path, what):
    """The points, or an InputError naming the file if any lies outside ``shape``."""
    height, width = shape
    outside = (points[:, 0] < -0.5) | (points[:, 0] > height - 0.5) | (points[:, 1] < -0.5) | \
        (points[:, 1] > width - 0.5)
    if outside.any():
        first = points[outside][0]
        raise InputError(f"{path}: {int(outside.sum())} point(s) outside the {what} ({width}x{height} pixels; "
                         f"first: x={first[1]:g}, y={first[0]:g})")
    return points


def _matched(records, reference_path, reference, count):
    """The reference points in the order of ``records``: by a ``name`` column both tables
    have, else row by row (then both must have as many rows)."""
    reference_records, coordinates = reference
    if records and "name" in records[0] and reference_records and "name" in reference_records[0]:
        where = {row["name"]: k for k, row in enumerate(reference_records)}
        missing = [row["name"] for row in records if row["name"] not in where]
        if missing:
            raise InputError(f"{reference_path}: no reference point named {missing[0]!r} ({len(missing)} missing)")
        return coordinates[[where[row["name"]] for row in records]]
    if len(coordinates) != count:
        raise InputError(f"{reference_path}: {len(coordinates)} reference points for {count} points (give both a "
                         "'name' column to match them by name)")
    return coordinates


def _errors(mapped, truth, before):
    """Per point target registration errors, and their summary beside the identity's."""
    errors = np.hypot(*(mapped - truth).T)
    initial = np.hypot(*(before - truth).T)
    return errors, {"tre_mean_px": float(errors.mean()), "tre_median_px": float(np.median(errors)),
                    "tre_p95_px": float(np.percentile(errors, 95)), "tre_max_px": float(errors.max()),
                    "initial_mean_px": float(initial.mean())}


def map_point_files(field_path, points_path, output, direction="fixed-to-moving", overwrite=False,
                    reference_path=None):
    """``warp --points``: landmarks mapped through a field, into ``output/<points name>.csv``.

    ``fixed-to-moving`` (the field itself): where each fixed-image point samples the
    moving image, ``p + u(p)``. ``moving-to-fixed``: where each moving-image point
    lands in the fixed image, through the inverse ``invert`` writes (for a velocity-field
    model's register folder, its velocity's inverse refined); each row then says whether
    the inverse is trustworthy there (``inverse_residual_px``, fixed-image pixels).
    Moving-image points are in the moving file's own pixels, also where ``register``
    resized it to the fixed image's frame (the register folder's ``moving_size``).

    ``reference_path``, a CSV of where the points truly are in the other image (columns x,
    y; matched by ``name`` or by row): each row gains ``error_px``, the target
    registration error, and the result ``tre_*`` (mean, median, 95th percentile, max, in
    the other image's pixels) beside ``initial_mean_px``, the error with no deformation.
    """
    from acregnet_cli.fields import map_points
    from acregnet_cli.fields.frames import grid_to_moving, moving_to_grid
    from acregnet_cli.io.atomic import folder_lock, write_text_atomic

    if direction not in POINT_DIRECTIONS:
        raise InputError(f"--direction must be one of {', '.join(POINT_DIRECTIONS)}, got {direction!r}")
    field, _, source = field_source(field_path)
    grid, moving = field.shape[:2], moving_shape(source, field)
    records, points = read_points(points_path)
    truth = None
    if reference_path is not None:
        truth = _matched(records, reference_path, read_points(reference_path), len(points))
    given = points
    if direction == "fixed-to-moving":
        _checked(points, grid, points_path, "fixed image")
    else:
        _checked(points, moving, points_path, "moving image")
        points = _checked(moving_to_grid(points, moving, grid), grid, points_path,
                          "fixed image's frame, where the moving image was brought")
    target = Path(output) / (Path(points_path).stem + ".csv")
    if target.exists() and not overwrite:
        raise InputError(f"{target}: exists already (use --overwrite to replace it)")
    residual = None
    if direction == "fixed-to-moving":
        mapped = grid_to_moving(map_points(points, field), moving, grid)
    else:
        inverse = field_inverse(field_path, field, source)[0]
        mapped = map_points(points, inverse)
        # How far the forward field sends the mapped points from where they started.
        back = map_points(np.clip(mapped, -0.5, np.array(grid) - 0.5), field)
        residual = np.hypot(*(back - points).T)
    errors, report = None, {}
    if truth is not None:
        # With no deformation, points go where register's resize alone puts them.
        before = grid_to_moving(given, moving, grid) if direction == "fixed-to-moving" else points
        errors, report = _errors(mapped, truth, before)
    buffer = io.StringIO()
    columns = list(records[0]) + ["mapped_x", "mapped_y"] + (["inverse_residual_px"] if residual is not None else []) \
        + (["error_px"] if errors is not None else [])
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for k, record in enumerate(records):
        row = dict(record, mapped_x=f"{mapped[k, 1]:.4f}", mapped_y=f"{mapped[k, 0]:.4f}")
        if residual is not None:
            row["inverse_residual_px"] = f"{residual[k]:.4f}"
        if errors is not None:
            row["error_px"] = f"{errors[k]:.4f}"
        writer.writerow(row)
    with folder_lock(output):
        write_text_atomic(target, buffer.getvalue())
    return {"input": str(points_path), "output": str(target), "kind": "points", "direction": direction,
            "points": len(records), "moving_size": list(moving), **report}
