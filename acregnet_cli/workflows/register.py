"""File-level registration: read pairs, register them in batches, write results.

A pair's folder is complete when its ``summary.json`` exists; it is written last,
so an interrupted batch reruns only the pairs that had not finished.
"""

import sys
import time
from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError
from acregnet_cli.fields import check_registrable
from acregnet_cli.fields.frames import itk_moving_frame
from acregnet_cli.io.atomic import (
    folder_lock,
    refuse_links,
    write_json_atomic,
    write_npy_atomic,
    write_png_atomic,
)
from acregnet_cli.io.images import (
    image_spacing,
    load_radiograph,
    read_label_map,
    stored_shape,
    to_bit_depth,
)
from acregnet_cli.io.nifti import write_field_nifti
from acregnet_cli.options import RegistrationOptions
from acregnet_cli.registration import make_registrar

SUMMARY = "summary.json"


def _load_pair(pair, max_side=None, intensity="auto", reduced_outputs=False):
    moving_read = load_radiograph(pair.moving, max_side, intensity, keep_stored=True)
    fixed_read = load_radiograph(pair.fixed, max_side, intensity)
    moving, bits, fixed = moving_read.image, moving_read.bits, fixed_read.image
    for path, read in ((pair.moving, moving_read), (pair.fixed, fixed_read)):
        if read.factor > 1:
            # Said even with --json (on standard error): the outputs are not at the file's size.
            print(f"register: {path}: {read.stored_shape[1]}x{read.stored_shape[0]} reduced by {read.factor} to "
                  f"{read.image.shape[1]}x{read.image.shape[0]} (--max-side {max_side}) to register; outputs are "
                  + ("at that size (--reduced-outputs)" if reduced_outputs else "at the files' own sizes"),
                  file=sys.stderr)
    check_registrable(moving, pair.moving)
    check_registrable(fixed, pair.fixed)
    _warn_if_not_radiographs(("moving", pair.moving, moving), ("fixed", pair.fixed, fixed))
    mask = None
    if pair.moving_mask is not None:
        mask = read_label_map(pair.moving_mask)
        stored = stored_shape(pair.moving)
        if mask.shape != stored:
            raise InputError(f"{pair.moving_mask}: mask is {mask.shape[1]}x{mask.shape[0]}, "
                             f"its image {stored[1]}x{stored[0]}")
        if mask.shape != moving.shape:
            # The image was reduced for size: take the mask's labels at the same grid (no new labels).
            factor = int(np.ceil(mask.shape[0] / moving.shape[0]))
            mask = mask[::factor, ::factor][:moving.shape[0], :moving.shape[1]]
    how = {"moving": moving_read.intensity.summary(), "fixed": fixed_read.intensity.summary()}
    # warped.png holds the moving file's own values warped (as ITK resampling would), not
    # the normalised copy the network saw.
    shown = moving_read.stored if moving_read.intensity.mode != "dtype" else None
    factors = (moving_read.factor, fixed_read.factor)
    return moving, fixed, mask, bits, dict(how, factors=factors), shown


# Under this NCC (fields of view at 64 px) two inputs are hardly both frontal chest radiographs:
# 0.2-0.4% of frontal pairs of three hospitals were, 53% of a frontal film and a picture, CT or
# MR slice (experiments/views/pair_ncc.py).
PAIR_MIN_NCC = 0.05


def _warn_if_not_radiographs(*images):
    """Say on standard error (even with --json) which inputs look like masks or drawings,
    and when the two correlate too little to be both frontal chest radiographs."""
    from acregnet_cli.applications.library import framed_ncc_vector
    from acregnet_cli.io.intensity import FEW_LEVELS, grey_levels

    for role, path, image in images:
        levels = grey_levels(image)
        if levels <= FEW_LEVELS:
            print(f"register: warning: {path}: {levels} grey levels: a mask or a drawing given as the {role} "
                  "image, not a radiograph?", file=sys.stderr)
            return
    ncc = float(np.mean(framed_ncc_vector(images[0][2]) * framed_ncc_vector(images[1][2])))
    if ncc < PAIR_MIN_NCC:
        print(f"register: warning: {images[0][1]} and {images[1][1]} correlate at {ncc:.2f} (< {PAIR_MIN_NCC:g}): "
              "is each a frontal chest radiograph? (a lateral, a CT slice or another picture registers to "
              "nothing meaningful)", file=sys.stderr)


def _at_stored_size(pair, result, fixed_factor, mask_outside):
    """A registration found on reduced images carried to the files' own sizes: the field
    read at the fixed file's pixels, the moving file's own values (and its mask) warped
    through it as ``warp`` warps them. The velocity is dropped: it describes the reduced
    field (``invert`` then uses Newton's method)."""
    import dataclasses

    from acregnet_cli.fields import folding_fraction
    from acregnet_cli.fields.frames import field_at_stored_size, warp_moving

    field = field_at_stored_size(result.field, fixed_factor, stored_shape(pair.fixed))
    moving = load_radiograph(pair.moving, None, "dtype").image
    mask = None
    if pair.moving_mask is not None:
        mask = warp_moving(read_label_map(pair.moving_mask), field, labels=True,
                           clear_outside=mask_outside == "background")
    stored = dataclasses.replace(result, field=field, warped=np.clip(warp_moving(moving, field), 0.0, 1.0),
                                 warped_mask=mask, warped_onehot=None, folding_fraction=folding_fraction(field),
                                 velocity=None, velocity_frame=None)
    return stored, moving.shape


def _write_outputs(out, pair, result, bits, spacing, sizes, seconds, model_path, resize, engine, passes=1,
                   fixed_stored=None, mask_outside="edge", prealign=None, extras=(), images=None, intensity=None,
                   panel=None, scores=None):
    from acregnet_cli.workflows.fields import write_jacobian_files

    refuse_links(out / SUMMARY)
    out.mkdir(parents=True, exist_ok=True)
    write_png_atomic(out / "warped.png", to_bit_depth(result.warped, bits))
    write_npy_atomic(out / "field.npy", result.field.astype(np.float32))
    write_field_nifti(out / "field.nii.gz", result.field, spacing=spacing)
    files = ["warped.png", "field.npy", "field.nii.gz"]
    if result.warped_mask is not None:
        dtype = np.uint8 if result.warped_mask.max(initial=0) <= 255 else np.uint16
        write_png_atomic(out / "warped_mask.png", result.warped_mask.astype(dtype))
        files.append("warped_mask.png")
    viewer, dicom_seg = _viewer_files(out, pair, result, bits, spacing, extras)
    files += viewer
    velocity = None
    if result.velocity is not None:
        write_npy_atomic(out / "velocity.npy", result.velocity)
        files.append("velocity.npy")
        velocity = dict(result.velocity_frame, file="velocity.npy")
    jacobian = {}
    if "jacobian" in extras:
        jacobian = write_jacobian_files(out, result.field, spacing)
        files += jacobian.pop("files")
    if "figures" in extras:
        from acregnet_cli.io.pictures import registration_panel

        # Drawn at the size registered (``panel``, when the outputs were carried to the files' sizes).
        moving, fixed, moving_mask = images
        drawn = panel or result
        registration_panel(out / "figure.png", moving, fixed, drawn.warped, drawn.field, moving_mask,
                           drawn.warped_mask, title=f"{Path(pair.moving).name} to {Path(pair.fixed).name}")
        files.append("figure.png")
    displacement = np.linalg.norm(result.field, axis=-1)
    summary = {
        "moving": str(pair.moving),
        "fixed": str(pair.fixed),
        "moving_mask": str(pair.moving_mask) if pair.moving_mask else None,
        "fixed_mask": str(pair.fixed_mask) if pair.fixed_mask else None,
        **({"dicom_seg": dicom_seg} if dicom_seg else {}),
        # The warped mask against the fixed image's own: Dice and Hausdorff distance (NIfTI units).
        "scores": scores,
        "model": str(model_path),
        "resize": resize,
        "engine": engine,
        "passes": passes,
        "mask_outside": mask_outside,
        "prealign": prealign,
        # How each file's stored values became the image registered (window, inversion).
        "intensity": intensity,
        "moving_size": list(sizes[0]),
        "fixed_size": list(sizes[1]),
        "output_size": list(result.field.shape[:2]),
        # The size the network's field was found at (smaller where --max-side reduced an image).
        "registered_size": list((panel or result).field.shape[:2]),
        "fixed_stored_size": list(fixed_stored or stored_shape(pair.fixed)),
        "nifti_spacing": spacing,
        "itk_moving_frame": itk_moving_frame(sizes[0], sizes[1], spacing),
        "field_convention": "field.npy: (H, W, 2) pixels, channel 0 rows (y), channel 1 columns (x); "
                            "warped(p) = moving(p + u(p))",
        "max_displacement_px": float(displacement.max()),
        "mean_displacement_px": float(displacement.mean()),
        "jacobian_nonpositive_fraction": result.folding_fraction,
        **jacobian,
        "velocity": velocity,
        "seconds_model": result.seconds_model,
        "seconds_total": seconds,
        "files": files,
        "output": str(out),
    }
    write_json_atomic(out / SUMMARY, summary)
    return summary


def _viewer_files(out, pair, result, bits, spacing, extras):
    """With ``--nifti``, warped.nii.gz and warped_mask.nii.gz (the fixed spacing); for a DICOM
    fixed image at its own size, warped_mask.seg.dcm referencing it (DICOM Segmentation);
    the files, and why no Segmentation was written where one could not be."""
    from acregnet_cli.io.images import is_dicom
    from acregnet_cli.io.nifti import write_image_nifti

    files, note = [], None
    if "nifti" in extras:
        write_image_nifti(out / "warped.nii.gz", to_bit_depth(result.warped, bits), spacing)
        files.append("warped.nii.gz")
        if result.warped_mask is not None:
            write_image_nifti(out / "warped_mask.nii.gz", result.warped_mask.astype(np.uint16), spacing)
            files.append("warped_mask.nii.gz")
    if result.warped_mask is not None and is_dicom(pair.fixed) and result.warped_mask.shape == stored_shape(pair.fixed):
        from acregnet_cli.io.dicomseg import write_dicom_seg

        try:
            write_dicom_seg(out / "warped_mask.seg.dcm", result.warped_mask, pair.fixed)
            files.append("warped_mask.seg.dcm")
        except InputError as exc:  # the registration stands; the summary says what the file lacks
            note = f"not written: {exc}"
    return files, note


def _finished(summary_path):
    """A pair's summary if it finished; None if it did not, or if its summary is torn or
    corrupt (then the pair is registered again and the summary rewritten)."""
    import json

    try:
        summary = json.loads(summary_path.read_text())
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and "output" in summary else None


def register_pairs(targets, model=None, options=None, spacing=None, overwrite=False, echo=None, max_side=None,
                   table=None, extras=(), intensity="auto"):
    """Register ``[(Pair, output_folder), ...]`` with a model (see :func:`~acregnet_cli.models.load_model`).

    Pairs whose folder already holds ``summary.json`` are skipped unless
    ``overwrite``; their existing summary is returned in their place.
    ``spacing`` (physical pixel size for the NIfTI field) defaults to the fixed
    image's DICOM pixel spacing, else 1. Images longer than ``max_side`` are
    reduced to register (see :func:`~acregnet_cli.io.images.load_radiograph`) and the
    outputs carried back to the files' own sizes, unless ``extras`` holds
    ``'reduced-outputs'``; ``intensity`` says how stored values
    become [0, 1] (:func:`acregnet_cli.io.intensity.normalise`), and each summary records
    the window and inversion used. With ``table`` (a path), one
    CSV row per pair is written there: ``position`` (index in ``targets``, or the
    pair's own ``position`` attribute when sharded), name, output and key figures.
    ``options`` (:class:`~acregnet_cli.options.RegistrationOptions`) says how: passes,
    mask outside the image, pre-alignment, resize, engine and batch size. ``extras``
    may hold ``'jacobian'`` (jacobian.nii.gz, jacobian.png and the determinant's
    summary) and ``'figures'`` (figure.png, the registration at a glance).
    A velocity-field model's single pass also writes ``velocity.npy`` (what
    ``acregnet invert`` inverts exactly).

    Returns
    -------
    list of dict : one summary per pair, in order.
    """
    began = time.perf_counter()
    options = options or RegistrationOptions()
    registrar = make_registrar(model, options, pairs=len(targets))
    model_path, resize, engine, batch_size = registrar.model_handle.path, registrar.resize, registrar.engine, \
        options.batch_size
    summaries = [None] * len(targets)
    todo = []
    for index, (pair, out) in enumerate(targets):
        done = None if overwrite else _finished(Path(out) / SUMMARY)
        if done is not None:
            summaries[index] = dict(done, skipped=True)
        else:
            todo.append(index)
    if echo is not None and targets and not todo:
        echo(f"nothing to do: all {len(targets)} pair(s) are registered already (--overwrite redoes them)")
    startup = time.perf_counter() - began
    # Outputs are written by two threads while the next chunk registers: compressing
    # the NIfTI field and encoding PNGs release the GIL, and writing cost as much as
    # registering with the NumPy engine. At most two chunks' results are held.
    from concurrent.futures import ThreadPoolExecutor

    def write(index, moving, fixed, mask, bits, how, result, seconds):
        pair, out = targets[index]
        write_began = time.perf_counter()
        pair_spacing = spacing or image_spacing(pair.fixed) or 1.0
        fixed_stored = stored_shape(pair.fixed)
        factors = how.pop("factors")
        sizes, panel = (moving.shape, fixed.shape), None
        if factors != (1, 1) and "reduced-outputs" not in extras:
            panel = result
            result, moving_size = _at_stored_size(pair, result, factors[1], registrar.mask_outside)
            sizes = (moving_size, fixed_stored)
        elif fixed.shape != fixed_stored:
            pair_spacing *= fixed_stored[0] / fixed.shape[0]
        scores = None
        if pair.fixed_mask is not None:
            from acregnet_cli.metrics import label_scores

            truth = read_label_map(pair.fixed_mask)
            if truth.shape != result.warped_mask.shape:  # --reduced-outputs: the mask's labels at that grid
                step = int(np.ceil(truth.shape[0] / result.warped_mask.shape[0]))
                truth = truth[::step, ::step][:result.warped_mask.shape[0], :result.warped_mask.shape[1]]
            scores = label_scores(result.warped_mask, truth, pair_spacing)
        return _write_outputs(Path(out), pair, result, bits, pair_spacing, sizes,
                              seconds + (time.perf_counter() - write_began), model_path, resize, engine,
                              registrar.passes, fixed_stored, registrar.mask_outside, registrar.prealign,
                              extras, (moving, fixed, mask), how, panel, scores)

    def collect(pending):
        for index, future in pending:
            summaries[index] = future.result()
            if echo is not None:
                pair, out = targets[index]
                scored = (summaries[index].get("scores") or {}).get("mean_dice")
                echo(f"{pair.name}: {out} (jacobian<=0: {100 * summaries[index]['jacobian_nonpositive_fraction']:.2f}%"
                     + (f", mean Dice {scored:.4f}" if scored is not None else "") + ")")

    with ThreadPoolExecutor(max_workers=2) as writers:
        previous = []
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            chunk_began = time.perf_counter()
            loaded = [_load_pair(targets[i][0], max_side, intensity, "reduced-outputs" in extras) for i in chunk]
            results = registrar.register_many([(m, f, mask) for m, f, mask, _, _, _ in loaded],
                                              shown=[item[-1] for item in loaded])
            per_pair = (time.perf_counter() - chunk_began) / len(chunk)
            current = [
                # the first pair also carries the model loading and start-up time
                (index, writers.submit(write, index, moving, fixed, mask, bits, how, result,
                                       per_pair + (startup if index == todo[0] else 0.0)))
                for index, (moving, fixed, mask, bits, how, _), result in zip(chunk, loaded, results)]
            collect(previous)
            previous = current
        collect(previous)
    if table is not None:
        from acregnet_cli.workflows.sharding import write_table

        write_table(table, [
            {"position": getattr(pair, "position", index), "name": pair.name, "output": str(out),
             "jacobian_nonpositive_fraction": summary["jacobian_nonpositive_fraction"],
             "max_displacement_px": summary["max_displacement_px"], "seconds_total": summary["seconds_total"],
             **({"mean_dice": (summary.get("scores") or {}).get("mean_dice")}
                if any(pair.fixed_mask for pair, _ in targets) else {})}
            for index, ((pair, out), summary) in enumerate(zip(targets, summaries))])
    return summaries


def register_files(moving=None, fixed=None, output=None, model=None, options=None, moving_mask=None,
                   pairs_file=None, shard=None, spacing=None, max_side=4096, overwrite=False, echo=None, extras=(),
                   intensity="auto", fixed_mask=None):
    """``acregnet register``: one pair of files, or every pair of a CSV, into output folders.

    One pair writes into ``output`` (default ``<moving>_to_<fixed>``) and is refused if
    that folder holds a registration already, unless ``overwrite``. With ``pairs_file``
    (columns moving, fixed[, moving_mask, fixed_mask, name]) each pair writes into
    ``output/<name>`` (default ``registered``), pairs done already are skipped, and
    ``registrations.csv`` (or a shard's table, ``shard`` = 'I/N') lists them all.
    A fixed mask (``fixed_mask``, or the column) scores the warped moving mask against
    it: Dice and Hausdorff distance per label in ``summary.json`` (``scores``) and the
    mean Dice in the table.

    Returns
    -------
    list of dict
        One summary per pair (see :func:`register_pairs`).
    """
    from acregnet_cli.io.pairs import Pair, check_pair_files, default_pair_name, read_pairs_csv

    if pairs_file is not None:
        if moving is not None or fixed is not None or moving_mask is not None or fixed_mask is not None:
            raise InputError("give either MOVING FIXED [--mask] or --pairs, not both")
        from acregnet_cli.workflows.sharding import parse_shard, select, table_name

        shard_spec = parse_shard(shard)
        pairs = [pair for _, pair in select(read_pairs_csv(pairs_file), shard_spec)]
        check_pair_files(pairs, pairs_file)
        out_root = Path(output) if output else Path("registered")
        targets = [(pair, out_root / pair.name) for pair in pairs]
        table = out_root / table_name("registrations", shard_spec)
        held = (out_root, shard_spec)
    else:
        if moving is None or fixed is None:
            raise InputError("give MOVING and FIXED images, or --pairs CSV")
        for path in (moving, fixed) + tuple(p for p in (moving_mask, fixed_mask) if p):
            path = Path(path)
            if path.is_dir():
                raise InputError(f"{path}: is a directory, expected an image file")
            if not path.is_file():
                raise InputError(f"{path}: file not found")
        if shard is not None:
            raise InputError("--shard applies to --pairs")
        pair = Pair(Path(moving), Path(fixed), Path(moving_mask) if moving_mask else None,
                    default_pair_name(Path(moving), Path(fixed)), fixed_mask=Path(fixed_mask) if fixed_mask else None)
        if fixed_mask is not None:
            check_pair_files([pair], "--fixed-mask")
        out = Path(output) if output else Path(pair.name)
        table = None
        if (out / SUMMARY).exists() and not overwrite:
            raise InputError(f"{out}: holds a registration already (use --overwrite to replace it)")
        targets = [(pair, out)]
        held = (out, (0, 1))
    with folder_lock(*held):
        return register_pairs(targets, model, options, spacing=spacing, overwrite=overwrite, echo=echo,
                              max_side=max_side, table=table, extras=extras, intensity=intensity)
