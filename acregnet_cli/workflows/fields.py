"""Files in, files out for a saved field: ``warp`` (images, label maps, points),
``invert``, ``compose``, and the Jacobian files ``register --jacobian`` also writes.

A field folder (what ``register``, ``invert`` and ``compose`` write) holds field.npy,
field.nii.gz and summary.json, and with ``jacobian`` jacobian.nii.gz and jacobian.png.
"""

import json
import os
import time
from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError

FIELD_FILES = ("field.npy", "field.nii.gz", "jacobian.nii.gz", "jacobian.png", "summary.json")


def field_source(path):
    """The field at ``path`` (register/invert/compose folder, field.npy or NIfTI), its
    NIfTI spacing and the summary written beside it (or None)."""
    from acregnet_cli.io.nifti import read_field, read_field_spacing

    path = Path(path)
    summary_path = (path if path.is_dir() else path.parent) / "summary.json"
    summary = None
    if path.is_dir() or path.suffix == ".npy":
        try:
            summary = json.loads(summary_path.read_text()) if summary_path.is_file() else None
        except (OSError, ValueError):
            summary = None
    field = read_field(path)
    if summary is not None:
        summary = checked_summary(summary, summary_path, field.shape[:2])
    spacing = (summary or {}).get("nifti_spacing") or (read_field_spacing(path) if path.suffix != ".npy"
                                                      and not path.is_dir() else None) or 1.0
    return field, float(spacing), summary


def checked_summary(summary, path, shape):
    """The entries of a ``summary.json`` read back beside a field, checked before use (it is
    a file anyone may have edited): an InputError naming the file and the key otherwise."""
    from acregnet_cli.options import RESIZE_METHODS

    def whole(value, low, high):
        return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high

    if not isinstance(summary, dict):
        raise InputError(f"{path}: not a summary (a JSON object)")
    spacing = summary.get("nifti_spacing")
    if spacing is not None and (isinstance(spacing, bool) or not isinstance(spacing, (int, float))
                                or not np.isfinite(spacing) or spacing <= 0):
        raise InputError(f"{path}: nifti_spacing must be a positive number, got {spacing!r}")
    moving = summary.get("moving_size")
    if moving is not None and not (isinstance(moving, list) and len(moving) == 2
                                   and all(whole(v, 1, 16 * max(shape)) for v in moving)):
        raise InputError(f"{path}: moving_size must be [rows, columns] in pixels, got {moving!r}")
    frame = summary.get("velocity")
    if frame:
        box = frame.get("box") if isinstance(frame, dict) else None
        side = frame.get("side") if isinstance(frame, dict) else None
        sound = isinstance(frame, dict) and frame.get("file") == "velocity.npy" \
            and whole(frame.get("integration_steps"), 0, 64) and frame.get("resize") in RESIZE_METHODS \
            and whole(side, max(shape), 4 * max(shape)) and isinstance(box, list) and len(box) == 4 \
            and all(whole(v, 0, side) for v in box) and tuple(box[2:]) == tuple(shape) \
            and box[0] + box[2] <= side and box[1] + box[3] <= side
        if not sound:
            raise InputError(f"{path}: its 'velocity' entry does not describe this field ({shape[1]}x{shape[0]}); "
                             "remove the entry (or the file) to invert by Newton's method")
    return summary


def moving_shape(summary, field):
    """The moving image's (rows, columns) a field was made for: the register folder's
    ``moving_size`` where it records one, else the field's own grid."""
    recorded = (summary or {}).get("moving_size")
    return tuple(recorded) if recorded else tuple(field.shape[:2])


JACOBIAN_FILES = ("jacobian.nii.gz", "jacobian.png")


def warp_output_names(inputs, output, jacobian=False):
    """The file each input of ``warp`` is written to in ``output``: ``<name>.png``; where
    two inputs share a name (``images/X.png`` and ``labels/X.png``, the datasets' own
    layout) each takes its folder's name too (``images_X.png``, ``labels_X.png``). A name
    that is the input itself or one of warp's own files (``jacobian.png`` with
    ``--jacobian``) gets ``_warped``.

    Examples
    --------
    >>> [p.name for p in warp_output_names(["images/X.png", "labels/X.png", "other.tif"], "out")]
    ['images_X.png', 'labels_X.png', 'other.png']
    """
    inputs, output = [Path(path) for path in inputs], Path(output)
    stems = [path.stem for path in inputs]
    names = [f"{path.parent.name}_{path.stem}" if stems.count(path.stem) > 1 and path.parent.name else path.stem
             for path in inputs]
    if len(set(names)) != len(names):
        twins = sorted({str(path) for path, name in zip(inputs, names) if names.count(name) > 1})
        raise InputError(f"{', '.join(twins)}: inputs of the same name in folders of the same name; their outputs "
                         "would overwrite each other (warp them into separate output folders)")
    reserved = set(JACOBIAN_FILES) if jacobian else set()
    targets = []
    for path, name in zip(inputs, names):
        target = output / f"{name}.png"
        if target.name in reserved or os.path.abspath(target) == os.path.abspath(path):
            target = output / f"{name}_warped.png"
        targets.append(target)
    return targets


def write_jacobian_files(out, field, spacing):
    """jacobian.nii.gz and jacobian.png of ``field`` in ``out``; return the determinant's
    summary (:func:`~acregnet_cli.fields.jacobian_summary`) with ``files``."""
    from acregnet_cli.fields import determinant_summary, jacobian_determinant
    from acregnet_cli.io.atomic import write_png_atomic
    from acregnet_cli.io.nifti import write_scalar_nifti
    from acregnet_cli.io.pictures import jacobian_picture

    determinant = jacobian_determinant(field)
    write_scalar_nifti(Path(out) / JACOBIAN_FILES[0], determinant, spacing)
    write_png_atomic(Path(out) / JACOBIAN_FILES[1], jacobian_picture(determinant))
    return dict(determinant_summary(determinant), files=list(JACOBIAN_FILES))


def _prepare_output(output, overwrite):
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise InputError(f"{output}: exists and is not a folder")
    if (output / "summary.json").exists() and not overwrite:
        raise InputError(f"{output}: holds a field already (use --overwrite to replace it)")
    return output


def _write_field_folder(output, field, spacing, summary, jacobian):
    """field.npy, field.nii.gz (and the Jacobian files), summary.json last."""
    from acregnet_cli.fields import folding_fraction
    from acregnet_cli.io.atomic import write_json_atomic, write_npy_atomic
    from acregnet_cli.io.nifti import write_field_nifti

    output.mkdir(parents=True, exist_ok=True)
    write_npy_atomic(output / "field.npy", field.astype(np.float32))
    write_field_nifti(output / "field.nii.gz", field, spacing=spacing)
    files = ["field.npy", "field.nii.gz"]
    summary = dict(summary, output_size=list(field.shape[:2]), nifti_spacing=spacing,
                   jacobian_nonpositive_fraction=folding_fraction(field))
    if jacobian:
        details = write_jacobian_files(output, field, spacing)
        files += details.pop("files")
        summary.update(details)
    summary.update(files=files + ["summary.json"], output=str(output))
    write_json_atomic(output / "summary.json", summary)
    return summary


def exact_velocity_inverse(folder, summary):
    """The inverse of a velocity-field model's field: the negated velocity integrated and
    brought to the fixed frame as ``register`` brought the field (None if not recorded)."""
    from acregnet_cli.np.ops import integrate_velocity, resize_field

    frame = (summary or {}).get("velocity")
    if not frame:
        return None
    from acregnet_cli.io.nifti import check_npy_size

    path = Path(folder) / frame["file"]
    check_npy_size(path)
    try:
        velocity = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable velocity field ({' '.join(str(exc).split())})") from None
    inverse = integrate_velocity(-velocity[None], int(frame["integration_steps"]))
    inverse = resize_field(inverse, int(frame["side"]), frame["resize"])[0]
    top, left, height, width = frame["box"]
    return inverse[top:top + height, left:left + width].astype(np.float64)


def field_inverse(field_path, field, source, iterations=30):
    """The inverse of ``field`` read from ``field_path``, its residual, how it was found and,
    for a velocity model's register folder, the residual of the velocity's integral alone."""
    from acregnet_cli.fields import inverse_residual, inversion_report, invert_field

    folder = Path(field_path) if Path(field_path).is_dir() else Path(field_path).parent
    start = exact_velocity_inverse(folder, source) if Path(field_path).suffix != ".gz" else None
    first = {}
    if start is not None:
        integral = inversion_report(field, start, inverse_residual(field, start))
        first = {f"velocity_{key}": value for key, value in integral.items() if key.startswith("residual")}
    inverse, residual = invert_field(field, iterations=iterations, start=start)
    return inverse, residual, "newton" if start is None else "velocity, refined by newton", first


def invert_files(field_path, output, iterations=30, jacobian=False, overwrite=False):
    """``acregnet invert``: the inverse of a field, with how well it inverts, into ``output``.

    For a ``register`` folder of a velocity-field model (one pass), the inverse its
    velocity defines (the negated velocity, integrated), then refined by Newton's
    method (:func:`~acregnet_cli.fields.invert_field`): the integral is exact for the
    continuous flow, but scaling and squaring on the network's 64x64 grid and the
    upsampling leave a residual against the saved field, which the summary records
    (``velocity_residual_*``). Any other field starts from the forward map. The
    summary reports the final residual (:func:`~acregnet_cli.fields.inversion_report`).
    """
    from acregnet_cli.fields import inversion_report
    from acregnet_cli.io.atomic import folder_lock

    if not 1 <= int(iterations) <= 1000:
        raise InputError(f"--iterations must be from 1 to 1000, got {iterations}")
    field, spacing, source = field_source(field_path)
    output = _prepare_output(output, overwrite)
    began = time.perf_counter()
    inverse, residual, method, first = field_inverse(field_path, field, source, iterations)
    report = dict(inversion_report(field, inverse, residual), **first)
    with folder_lock(output):
        return _write_field_folder(output, inverse, spacing, {
            "inverse_of": str(field_path), "method": method, "iterations": int(iterations),
            **report, "seconds": time.perf_counter() - began,
            "field_convention": "the inverse: q -> q + v(q) maps moving-image pixels to the fixed image"},
            jacobian)


def compose_files(first_path, second_path, output, jacobian=False, overwrite=False):
    """``acregnet compose``: the field of warping by FIRST and then by SECOND, into ``output``."""
    from acregnet_cli.fields import compose_fields
    from acregnet_cli.io.atomic import folder_lock

    first, _, _ = field_source(first_path)
    second, spacing, _ = field_source(second_path)
    output = _prepare_output(output, overwrite)
    with folder_lock(output):
        return _write_field_folder(output, compose_fields(first, second), spacing,
                                   {"first": str(first_path), "second": str(second_path),
                                    "field_convention": "warping by this field = warping by first, then by second"},
                                   jacobian)


def warp_files(field_path, inputs, output, labels=False, overwrite=False, echo=None, jacobian=False, masks=()):
    """Warp each of ``inputs`` by the field at ``field_path`` into ``output/<name>``.

    Images are warped bilinearly and written at their own bit depth, as ``register``
    writes ``warped.png``; with ``labels`` every input is a label map, warped label-safely
    and written with its own values, as ``register --mask`` writes ``warped_mask.png``.
    An image that looks like a label map (few integer values) is warped as an image and
    said so. ``masks`` are label maps warped beside the images in one run. Inputs must
    have the size of the field's grid, or the moving image's size recorded in its
    register folder (``moving_size``): such an input is brought to the fixed frame as
    ``register`` brought the moving image, so its own outputs are reproduced. Every input is checked before anything is
    written. With ``jacobian``, the field's Jacobian files too.

    Returns
    -------
    list of dict : per input, its output path and kind.
    """
    from acregnet_cli.fields import FieldSampler
    from acregnet_cli.fields.frames import warp_moving
    from acregnet_cli.io.atomic import folder_lock, write_png_atomic
    from acregnet_cli.io.intensity import FEW_LEVELS
    from acregnet_cli.io.images import (
        probe_image,
        read_image,
        read_label_map,
        to_bit_depth,
    )

    field, spacing, source = field_source(field_path)
    kinds = [(path, labels) for path in inputs] + [(path, True) for path in masks]
    if not kinds and not jacobian:
        raise InputError("give at least one INPUT image or label map to warp (or --points, --jacobian)")
    output = Path(output)
    moving = moving_shape(source, field)
    for path, _ in kinds:
        path = Path(path)
        shape = probe_image(path)
        if shape not in (field.shape[:2], moving):
            sizes = " or ".join(sorted({f"{w}x{h}" for h, w in (field.shape[:2], moving)}))
            raise InputError(f"{path}: {shape[1]}x{shape[0]} pixels; this field warps images of {sizes} "
                             "(the fixed image's grid, or the moving image it was made for)")
    targets = list(zip([Path(path) for path, _ in kinds], warp_output_names([path for path, _ in kinds], output,
                                                                               jacobian)))
    for _, target in targets:
        if target.exists() and not overwrite:
            raise InputError(f"{target}: exists already (use --overwrite to replace it)")
    if jacobian and not overwrite:
        for name in JACOBIAN_FILES:
            if (output / name).exists():
                raise InputError(f"{output / name}: exists already (use --overwrite to replace it)")
    loaded = []
    for (path, target), (_, is_labels) in zip(targets, kinds):
        # Read (and check) everything before the first write: nothing is written for bad input.
        if is_labels:
            loaded.append((path, target, read_label_map(path), None))
        else:
            # Resampled, not normalised: a warped file keeps its stored values (as transformix does).
            loaded.append((path, target) + read_image(path, intensity="dtype"))
    done = []
    sampler = FieldSampler(field) if loaded else None

    def warped(array, as_labels):
        # A moving image of its own size is brought to the fixed frame as register brought it.
        if array.shape == field.shape[:2]:
            return sampler.labels(array) if as_labels else sampler.image(array)
        return warp_moving(array, field, labels=as_labels)

    with folder_lock(output):
        for path, target, array, bits in loaded:
            if bits is None:
                labels_out = warped(array, True)
                write_png_atomic(target, labels_out.astype(np.uint8 if labels_out.max(initial=0) <= 255 else np.uint16),
                                 compress_level=3)
                kind = "labels"
            else:
                # A grey image shows its many values in a sample; only a few-valued one is counted whole.
                # So few integer values: perhaps a label map given without --labels.
                few = np.unique(array.ravel()[::97]).size <= FEW_LEVELS
                values = np.unique(array).size if few else None
                if echo and few and values <= FEW_LEVELS:
                    echo(f"{path}: {values} distinct values; warped as an image "
                         "(give --labels to warp it as a label map)")
                write_png_atomic(target, to_bit_depth(np.clip(warped(array, False), 0.0, 1.0), bits), compress_level=3)
                kind = "image"
            done.append({"input": str(path), "output": str(target), "kind": kind})
        if jacobian:
            details = write_jacobian_files(output, field, spacing)
            done.append(dict(details, input=str(field_path), output=str(output / "jacobian.png"), kind="jacobian"))
    return done
