"""Files in, files out for ``acregnet qc``: predicted quality per mask, CSV and histogram."""

import csv
import io
import sys
from pathlib import Path

import numpy as np

from acregnet_cli.applications.corpus import MIN_NCC
from acregnet_cli.applications.quality import predicted_quality
from acregnet_cli.applications.segmentation import load_atlases
from acregnet_cli.errors import InputError
from acregnet_cli.io.atomic import folder_lock, write_json_atomic, write_text_atomic
from acregnet_cli.io.images import read_image, read_label_map
from acregnet_cli.io.intensity import FEW_LEVELS, grey_levels
from acregnet_cli.options import RegistrationOptions
from acregnet_cli.registration import make_registrar


def _whole_counts(axis):
    """Ticks of a count axis at whole numbers only (3 masks gave ticks at 0.5, 1.5)."""
    from matplotlib.ticker import MaxNLocator

    axis.yaxis.set_major_locator(MaxNLocator(integer=True))


def save_histogram(path, qualities, threshold):
    """Histogram of predicted Dice with the acceptance threshold (like the paper's Figure 4)."""
    from acregnet_cli.io.plotting import save_figure

    save_figure(histogram_figure(qualities, threshold), path)


def histogram_figure(qualities, threshold):
    """The figure :func:`save_histogram` writes."""
    from acregnet_cli.io.plotting import new_figure

    figure = new_figure(6, 4)
    axis = figure.subplots()
    axis.hist(qualities, bins=np.linspace(min(0.5, min(qualities)), 1.0, 26), color="steelblue", edgecolor="white")
    axis.axvline(threshold, color="red", linestyle="--", label=f"threshold {threshold}")
    axis.set_xlabel("predicted Dice (RCA)")
    axis.set_ylabel("masks")
    _whole_counts(axis)
    axis.legend()
    figure.tight_layout()
    return figure


def match_images(mask_paths, images):
    """The image of each mask: ``images`` as given, or, for one folder, the file
    ``<name>.*`` in it for each ``<name>_mask.png`` or ``<name>.png``."""
    image_paths = [Path(p) for p in images]
    if len(image_paths) != 1 or not image_paths[0].is_dir():
        return image_paths
    folder, image_paths = image_paths[0], []
    for mask in mask_paths:
        stem = Path(mask).stem
        stem = stem[:-5] if stem.endswith("_mask") else stem
        candidates = sorted(folder.glob(stem + ".*"))
        if not candidates:
            raise InputError(f"{mask}: no image {stem}.* in {folder}")
        image_paths.append(candidates[0])
    return image_paths


def run_qc(mask_paths, images, reference_spec, data_dir, output, model=None, threshold=0.92,
           max_references=20, echo=None, options=None, overwrite=False, intensity="auto", framing="field-of-view"):
    """Predict the quality of each mask; write qc.csv, qc_histogram.png and summary.json.

    ``images`` are the masks' images in order, or one folder to find them in (see
    :func:`match_images`); ``model`` is anything :func:`~acregnet_cli.models.load_model`
    takes; ``options`` are :class:`~acregnet_cli.options.RegistrationOptions`. A rerun
    into the same folder keeps the rows of masks checked before (and skips those masks)
    unless ``overwrite``; the table is written every few masks, so a killed run loses
    little. ``accepted`` follows this run's ``threshold`` for every row. ``intensity``
    says how the images' stored values become [0, 1] (:func:`acregnet_cli.io.intensity.normalise`);
    ``framing`` 'field-of-view' (the default) cuts images, masks and references to their
    fields of view, as ``segment`` does (:func:`~acregnet_cli.applications.quality.predicted_quality`).
    """
    image_paths = match_images(mask_paths, images)
    if len(mask_paths) != len(image_paths):
        raise InputError(f"{len(mask_paths)} masks but {len(image_paths)} images: give one image per mask, in order")
    if not mask_paths:
        raise InputError("no masks given")
    references, _ = load_atlases(reference_spec, data_dir)
    if framing == "field-of-view":
        references = references.framed()
    options = (options or RegistrationOptions()).replace(engine="tensorflow")
    registrar = make_registrar(model, options, keep_onehot=False)
    options = options.replace(passes=registrar.passes)  # the model's own when none was given
    output = Path(output)
    with folder_lock(output):
        rows = {} if overwrite else _earlier_rows(output / "qc.csv")
        for index, (mask_path, image_path) in enumerate(zip(mask_paths, image_paths)):
            if str(mask_path) in rows:
                continue
            image, _ = read_image(image_path, intensity=intensity)
            levels = grey_levels(image)
            if levels <= FEW_LEVELS:
                print(f"qc: warning: {image_path}: {levels} grey levels: a mask or a drawing, not a radiograph? "
                      "(its mask's estimate means little)", file=sys.stderr)
            mask = read_label_map(mask_path)
            if mask.shape != image.shape:
                raise InputError(f"{mask_path}: mask {mask.shape} differs from its image {image_path} {image.shape}")
            quality, info = predicted_quality(image, mask, references, registrar, max_references, framing)
            if info["reference_ncc"] < MIN_NCC:
                print(f"qc: warning: {image_path}: its most similar reference correlates {info['reference_ncc']:.2f} "
                      f"(< {MIN_NCC:g}): not a frontal chest radiograph? (its mask's estimate means little)",
                      file=sys.stderr)
            rows[str(mask_path)] = {"mask": str(mask_path), "image": str(image_path),
                                    "predicted_dice": round(quality, 5), "best_reference": info["reference"],
                                    "accepted": quality >= threshold, "seconds": round(info["seconds"], 3)}
            if echo:
                echo(f"[{index + 1}/{len(mask_paths)}] {Path(mask_path).name}: predicted Dice {quality:.3f}"
                     f" ({'accept' if quality >= threshold else 'REJECT'})")
            if len(rows) % 25 == 0:
                _write_rows(output / "qc.csv", rows.values(), threshold)
        rows = _write_rows(output / "qc.csv", rows.values(), threshold)
        qualities = [r["predicted_dice"] for r in rows]
        save_histogram(output / "qc_histogram.png", qualities, threshold)
        summary = {"masks": len(rows), "threshold": threshold, "rejected": sum(not r["accepted"] for r in rows),
                   "mean_predicted_dice": float(np.mean(qualities)), "max_references": max_references,
                   "framing": framing,
                   **options.summary(),
                   "seconds_per_mask": float(np.mean([r["seconds"] for r in rows]))}
        write_json_atomic(output / "summary.json", summary)
    return summary, rows


def _earlier_rows(path):
    """qc.csv of an earlier run, by mask, with numbers as numbers (a torn table: none)."""
    try:
        with open(path, newline="") as handle:
            rows = list(csv.DictReader(handle))
        return {row["mask"]: dict(row, predicted_dice=float(row["predicted_dice"]), seconds=float(row["seconds"]))
                for row in rows}
    except (OSError, KeyError, ValueError, UnicodeDecodeError, csv.Error):
        return {}


def _write_rows(path, rows, threshold):
    rows = [dict(row, accepted=row["predicted_dice"] >= threshold) for row in rows]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())
    return rows
