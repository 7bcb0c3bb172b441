"""Files in, files out for ``acregnet segment``: load atlases and targets, segment, score, write."""

import json
import sys
import time
from pathlib import Path

import numpy as np

from acregnet_cli.applications.segmentation import (
    load_atlases,
    load_dataset_fold,
    save_overlay,
    segment,
)
from acregnet_cli.errors import InputError
from acregnet_cli.fields import check_registrable
from acregnet_cli.io.atomic import folder_lock, write_json_atomic, write_png_atomic
from acregnet_cli.io.images import read_image, read_label_map
from acregnet_cli.metrics import label_map_metrics
from acregnet_cli.options import RegistrationOptions
from acregnet_cli.registration import make_registrar


def run_segmentation(target_paths, atlas_spec, targets_from, data_dir, output, model=None, k=5,
                     fusion="majority", overlay=True, overwrite=False, echo=None, shard=(0, 1), options=None,
                     intensity="auto", framing="align"):
    """Segment targets (files, or a dataset fold with its masks for scoring).

    Writes ``<name>_mask.png`` (atlas label values), ``<name>_seg.dcm`` for a DICOM target
    (its DICOM Segmentation), ``<name>_overlay.png``,
    ``segmentation.csv`` (one row per target: atlases used, NCC, seconds and, for
    a dataset fold, Dice / HD / ASSD per class) and ``summary.json``. Targets whose
    mask exists already are skipped unless ``overwrite``. With ``shard`` (I, N) only
    every N-th target from the I-th is done and the tables carry the shard in their
    names (see :mod:`acregnet_cli.workflows.sharding`). ``model`` is anything
    :func:`~acregnet_cli.models.load_model` takes; ``options`` are
    :class:`~acregnet_cli.options.RegistrationOptions` (passes, mask outside, prealign).
    ``framing='field-of-view'`` cuts targets and atlases to their fields of view; ``'align'``
    also resamples a target framed unlike the atlases into their frame (see
    :func:`~acregnet_cli.applications.segmentation.segment`). ``intensity`` says how
    target files' stored values become [0, 1]
    (:func:`acregnet_cli.io.intensity.normalise`; a dataset fold is read as the models
    were trained on it).
    """
    from acregnet_cli.workflows.sharding import select

    began = time.perf_counter()
    output = Path(output)
    atlases, atlas_config = load_atlases(atlas_spec, data_dir)
    if framing in ("field-of-view", "align"):
        atlases = atlases.framed()
    truth, spacing, config = {}, 1.0, atlas_config
    if targets_from:
        config, names, images, labels = load_dataset_fold(targets_from, data_dir)
        targets = list(zip(names, images))
        truth = dict(zip(names, labels))
        spacing = config.spacing(images[0].shape[0])
    else:
        targets = []
        for path in target_paths:
            image, _ = read_image(path, intensity=intensity)
            check_registrable(image, path)
            targets.append((Path(path).stem, image))
    if len({name for name, _ in targets}) != len(targets):
        raise InputError("two targets share a file name; their masks would overwrite each other")
    targets = [(position, name, image) for position, (name, image) in select(targets, shard)]
    if k < 1:
        raise InputError(f"--k must be at least 1, got {k}")
    options = (options or RegistrationOptions()).replace(engine="tensorflow")
    registrar = make_registrar(model, options, keep_onehot=True)
    options = options.replace(passes=registrar.passes)  # the model's own when none was given
    model_path = registrar.model_handle.path
    with folder_lock(output, shard):
        summary = _segment_targets(targets, atlases, registrar, output, truth, spacing, config, shard, k, fusion,
                                   overlay, overwrite, echo, began, model_path, options, framing)
        _dicom_segmentations(output, [Path(p) for p in target_paths or ()], {name for _, name, _ in targets}, overwrite)
        return summary


def _dicom_segmentations(output, paths, names, overwrite):
    """``<name>_seg.dcm`` beside the mask of each DICOM target: its DICOM Segmentation (a
    target whose file lacks the identifiers one needs is said on standard error)."""
    from acregnet_cli.io.dicomseg import write_dicom_seg
    from acregnet_cli.io.images import is_dicom

    for path in paths:
        mask, target = output / f"{path.stem}_mask.png", output / f"{path.stem}_seg.dcm"
        if path.stem not in names or not is_dicom(path) or not mask.is_file() or (target.exists() and not overwrite):
            continue
        try:
            write_dicom_seg(target, read_label_map(mask), path)
        except InputError as exc:
            print(f"segment: {path}: no DICOM Segmentation ({exc})", file=sys.stderr)


# A target whose best atlas correlates this much is that atlas (a copy, a re-save).
SAME_IMAGE_NCC = 0.995
# Below this agreement of the warped atlases, corpus's default, a target is likely no
# frontal chest radiograph (experiments/views).
MIN_AGREEMENT = 0.90


def _earlier_rows(path):
    """The rows of an earlier run's table, by target (a torn or foreign table: none)."""
    import csv

    try:
        with open(path, newline="") as handle:
            return {row["target"]: row for row in csv.DictReader(handle) if row.get("target")}
    except (OSError, KeyError, UnicodeDecodeError, csv.Error):
        return {}


def _segment_targets(targets, atlases, registrar, output, truth, spacing, config, shard, k, fusion, overlay,
                     overwrite, echo, began, model_path, options, framing="none"):
    from acregnet_cli.workflows.corpus_files import Journal
    from acregnet_cli.workflows.sharding import table_name

    table = output / table_name("segmentation", shard)
    # Each finished target is journaled at once (the table is written at the end), so a run
    # killed at any moment keeps what it finished, rows included.
    journal_path = output / ".journal" / (table.stem + ".jsonl")
    names = {name for _, name, _ in targets}
    earlier = {} if overwrite else {**_earlier_rows(table), **_journal_rows(journal_path, names)}
    journal = Journal(journal_path, fresh=overwrite)
    try:
        return _segment_loop(targets, atlases, registrar, output, truth, spacing, config, shard, k, fusion, overlay,
                             overwrite, echo, began, model_path, options, framing, table, earlier, journal)
    finally:
        journal.close()


def _journal_rows(path, names):
    """Rows of targets finished by earlier runs, from their journal; lines that are not
    sound rows of this run's targets (torn, edited) are left out."""
    rows = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines() if path.is_file() else []
    except OSError:
        return rows
    for line in lines:
        try:
            row = json.loads(line)
            sound = row["target"] in names and isinstance(row["atlases"], str) and isinstance(row["ncc"], str) \
                and isinstance(row["seconds"], (int, float)) and row["seconds"] >= 0
        except (ValueError, KeyError, TypeError):
            continue
        if sound:
            rows[row["target"]] = row
    return rows


def _target_row(position, name, info):
    """A target's row of ``segmentation.csv`` (and its journal line), before any scores."""
    try:  # read back from an earlier table, the value is checked like any other
        agreement = round(float(info.get("agreement")), 5)
        agreement = agreement if 0.0 <= agreement <= 1.0 else ""
    except (TypeError, ValueError):
        agreement = ""
    return {"position": position, "target": name, "atlases": " ".join(info["atlases"]),
            "ncc": " ".join(f"{v:.4f}" for v in info["ncc"]), "seconds": round(info["seconds"], 4),
            "atlas_agreement": agreement}


def _warn_about(name, image, info):
    """Say on standard error (even with --json) what makes a target's mask doubtful; corpus
    refuses such an image (``view`` other or not-radiograph), segment writes its mask."""
    from acregnet_cli.applications.corpus import MIN_NCC, frontal_refusal
    from acregnet_cli.io.intensity import FEW_LEVELS, grey_levels

    levels = grey_levels(image)
    if levels <= FEW_LEVELS:
        print(f"segment: warning: {name}: {levels} grey levels: a mask or a drawing, not a radiograph?",
              file=sys.stderr)
    elif info["ncc"] and info["ncc"][0] >= SAME_IMAGE_NCC:
        # A score against itself is no score.
        print(f"segment: warning: {name} is (nearly) atlas {info['atlases'][0]} itself (NCC "
              f"{info['ncc'][0]:.4f}): its mask copies that atlas and its scores are optimistic; "
              "leave it out of the atlases", file=sys.stderr)
    elif info["ncc"] and info["ncc"][0] < MIN_NCC:
        print(f"segment: warning: {name}: its most similar atlas correlates {info['ncc'][0]:.2f} (< {MIN_NCC:g}): "
              "not a frontal chest radiograph?", file=sys.stderr)
    elif info["ncc"]:
        refusal = frontal_refusal(info["ncc"][0], info.get("agreement"), len(info["atlases"]), MIN_AGREEMENT)
        if refusal:
            print(f"segment: warning: {name}: {refusal}", file=sys.stderr)


def _segment_loop(targets, atlases, registrar, output, truth, spacing, config, shard, k, fusion, overlay, overwrite,
                  echo, began, model_path, options, framing, table, earlier, journal):
    from acregnet_cli.workflows.sharding import write_table

    rows, scores, computed = [], [], []
    class_values = [v for v in atlases.values if v != 0]
    for index, (position, name, image) in enumerate(targets):
        mask_path = output / f"{name}_mask.png"
        if mask_path.exists() and not overwrite:
            labels = read_label_map(mask_path)
            # What the earlier run recorded for this target stays in the table.
            done = earlier.get(name, {})
            info = {"atlases": done.get("atlases", "").split(), "seconds": float(done.get("seconds") or 0.0),
                    "agreement": done.get("atlas_agreement"),
                    "ncc": [float(v) for v in done.get("ncc", "").split()], "skipped": True}
            if overlay and not (output / f"{name}_overlay.png").exists():
                # Killed between the mask and its overlay: draw the overlay now.
                save_overlay(output / f"{name}_overlay.png", image, labels, f"{name}: {fusion} of {k} atlases")
        else:
            labels, info = segment(image, atlases, registrar, k=k, fusion=fusion, framing=framing)
            _warn_about(name, image, info)
            # Journaled before the mask: a mask on disk always has its row (a kill in between
            # leaves a row without a mask, and the target is done again).
            journal.append(_target_row(position, name, info))
            dtype = np.uint8 if labels.max(initial=0) <= 255 else np.uint16
            write_png_atomic(mask_path, labels.astype(dtype))
            if overlay:
                save_overlay(output / f"{name}_overlay.png", image, labels, f"{name}: {fusion} of {k} atlases")
        row = _target_row(position, name, info)
        if name in truth:
            indices = lambda m: np.searchsorted(atlases.values, m)  # noqa: E731
            per_class, mean = label_map_metrics(indices(labels), indices(truth[name]), len(atlases.values), spacing)
            for class_index, value in enumerate(class_values):
                for metric, values in per_class.items():
                    row[f"{metric}_{value}"] = float(values[class_index])
            row.update({f"{metric}_mean": value for metric, value in mean.items()})
            scores.append(row)
        rows.append(row)
        if not info.get("skipped"):
            computed.append(info["seconds"])
        if echo:
            echo(f"[{index + 1}/{len(targets)}] {name}" + (f" dice {row['dsc_mean']:.3f}" if name in truth else ""))
    write_table(table, rows)
    summary = {"segmented": len(rows), "k": k, "fusion": fusion, "model": str(model_path), **options.summary(),
               "framing": framing,
               "atlases": len(atlases.names), "seconds": time.perf_counter() - began,
               "skipped": len(rows) - len(computed),
               # This run's targets only: rows kept from an earlier run carry that run's time.
               "seconds_per_target": float(np.mean(computed or [0.0]))}
    if scores:
        summary["mean_dice"] = float(np.nanmean([r["dsc_mean"] for r in scores]))
        for value, class_name in zip(class_values, (config.class_names[1:] if config else class_values)):
            for metric in ("dsc", "hd", "assd"):
                summary[f"{metric}_{class_name}"] = float(np.nanmean([r[f"{metric}_{value}"] for r in scores]))
    summary_name = "summary.json" if shard[1] == 1 else f"summary.shard-{shard[0]}-of-{shard[1]}.json"
    write_json_atomic(output / summary_name, summary)
    return summary
