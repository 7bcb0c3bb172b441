"""The table, summary and figure of an ``acregnet corpus`` run (or shard)."""

import resource
from pathlib import Path

import numpy as np

from acregnet_cli.errors import AcregnetError, InputError

# The authors' RCA-estimated Dice over the 112,120 ChestX-ray14 images (their published table).
PAPER_CHESTXRAY14 = {"images": 112120, "mean": 0.935, "median": 0.944, "below_0.90": 0.110, "below_0.80": 0.0035}
_FIRST = ["position", "image", "status", "view", "reason", "height", "width", "mask", "atlases", "atlas_ncc",
          "estimated_dice"]
_LAST = ["rca_mean", "rca_max", "best_reference", "accepted", "atlas_agreement", "band_fraction", "ctr", "heart_width",
         "thoracic_width", "right_lung_area", "left_lung_area", "heart_area", "lung_height_ratio", "measure_unit",
         "window", "inverted", "field_of_view", "aligned", "global_reach", "seconds"]


def _columns(table):
    per_class = sorted({key for row in table for key in row if key.startswith("dice_")},
                       key=lambda key: int(key[5:]) if key[5:].isdigit() else key)
    return _FIRST + per_class + _LAST


def _write_tables(output, table, shard):
    """corpus.csv (or the shard's), and corpus.parquet beside it when pyarrow is installed."""
    import pandas as pd

    from acregnet_cli.io.atomic import atomic_path, write_text_atomic
    from acregnet_cli.workflows.sharding import table_name

    frame = pd.DataFrame.from_records(table, columns=_columns(table))
    for column in ("position", "height", "width"):
        frame[column] = frame[column].astype("Int64")  # whole numbers, empty for unreadable images
    name = table_name("corpus", shard)
    write_text_atomic(output / name, frame.to_csv(index=False))
    files = [name]
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return files, "pyarrow is not installed (pip install pyarrow for corpus.parquet)"
    parquet = name.removesuffix(".csv") + ".parquet"
    with atomic_path(output / parquet) as tmp:
        frame.to_parquet(tmp, index=False)
    return files + [parquet], None


def distribution(estimates):
    """Mean, median and shares below 0.90 and 0.80 of estimated Dice values."""
    values = np.asarray(estimates, np.float64)
    if not values.size:
        return {"mean": None, "median": None, "below_0.90": None, "below_0.80": None}
    return {"mean": float(values.mean()), "median": float(np.median(values)),
            "below_0.90": float(np.mean(values < 0.90)), "below_0.80": float(np.mean(values < 0.80))}


def write_report(output, table, shard, threshold, pipeline, root, computed, wall, missing):
    """Write the table(s), ``summary.json`` (a shard: ``summary.shard-I-of-N.json``) and,
    for a whole run, ``figure4.png``; return the summary."""
    from acregnet_cli.applications.corpus import VIEWS
    from acregnet_cli.io.atomic import json_safe, write_json_atomic

    output = Path(output)
    files, parquet_note = _write_tables(output, table, shard)
    statuses = [row["status"] for row in table]
    estimates = [row["estimated_dice"] for row in table if row.get("estimated_dice") is not None]
    summary = {
        "corpus": str(root), "output": str(output), "shard": list(shard), "images": len(table) + len(missing),
        "finished": len(table), "missing": len(missing), "ok": statuses.count("ok"),
        "failed": statuses.count("failed"), "not_chest": statuses.count("not-chest"),
        "views": {view: sum(row.get("view") == view for row in table) for view in VIEWS},
        "threshold": threshold, "accepted": sum(bool(row.get("accepted")) for row in table),
        "estimated_dice": distribution(estimates), "paper_chestxray14": PAPER_CHESTXRAY14,
        "atlases": len(pipeline.atlases.names), "references": len(pipeline.references.names)
        if pipeline.references is not None else 0, "k": pipeline.k, "max_references": pipeline.max_references,
        "model": str(pipeline.registrar.model_handle.path) if hasattr(pipeline.registrar, "model_handle") else None,
        "computed_this_run": len(computed),
        "seconds_per_image_compute": float(np.mean(computed)) if computed else None,
        "wall_seconds": wall,
        "images_per_second_this_run": len(computed) / wall if computed and wall > 0 else None,
        "peak_memory_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "parquet": parquet_note or "written",
    }
    summary["rejected"] = summary["ok"] - summary["accepted"] if estimates else 0
    if shard[1] == 1 and estimates:
        figure4(output / "figure4.png", table, root, output, threshold)
        files.append("figure4.png")
    summary["files"] = files
    name = "summary.json" if shard[1] == 1 else f"summary.shard-{shard[0]}-of-{shard[1]}.json"
    write_json_atomic(output / name, json_safe(summary))
    return summary


def _examples(table, threshold, count=4, seed=0):
    """Up to ``count`` masks below the threshold and ``count`` above, spread over each range."""
    scored = sorted((row for row in table if row.get("estimated_dice") is not None),
                    key=lambda row: row["estimated_dice"])
    below = [row for row in scored if row["estimated_dice"] < threshold]
    above = [row for row in scored if row["estimated_dice"] >= threshold]

    def spread(rows):
        if len(rows) <= count:
            return rows
        return [rows[int(i)] for i in np.linspace(0, len(rows) - 1, count)]

    return spread(below), spread(above)


def figure4(path, table, root, output, threshold):
    """The paper's Figure 4: the histogram of estimated Dice with the threshold, and
    examples of masks below and above it."""
    from matplotlib.ticker import MaxNLocator

    from acregnet_cli.io.images import read_image, read_label_map
    from acregnet_cli.io.pictures import label_legend, label_outlines
    from acregnet_cli.io.plotting import new_figure, save_figure

    estimates = [row["estimated_dice"] for row in table if row.get("estimated_dice") is not None]
    below, above = _examples(table, threshold)
    figure = new_figure(13, 8.5)
    grid = figure.add_gridspec(3, 4, height_ratios=[1.2, 1, 1])
    axis = figure.add_subplot(grid[0, :])
    low = min(0.5, float(np.min(estimates)))
    axis.hist(estimates, bins=np.linspace(low, 1.0, 51), color="steelblue", edgecolor="white")
    axis.axvline(threshold, color="red", linestyle="--", label=f"threshold {threshold:g}")
    share = np.mean(np.asarray(estimates) >= threshold)
    axis.set_title(f"estimated Dice (RCA) of {len(estimates)} masks: mean {np.mean(estimates):.3f}, median "
                   f"{np.median(estimates):.3f}; {100 * share:.1f}% accepted", fontsize=11)
    axis.set_xlabel("estimated Dice")
    axis.set_ylabel("images")
    axis.yaxis.set_major_locator(MaxNLocator(integer=True))  # counts: whole numbers only
    axis.legend()
    shown = {}
    for rows in (below, above):
        for row in rows[:4]:
            try:
                # Masks are at the image's stored size: the image is read whole to match.
                image, _ = read_image(Path(root) / row["image"])
                mask = read_label_map(Path(output) / row["mask"])
                if mask.shape != image.shape:
                    raise InputError(f"{row['mask']}: mask {mask.shape} differs from its image {image.shape}")
                shown[row["image"]] = (image, mask)
            except (AcregnetError, OSError, ValueError) as exc:
                # An image moved or deleted since it was segmented costs its panel, not the run.
                shown[row["image"]] = exc
    # One label set for every panel, so that each structure keeps its colour.
    values = sorted(set().union(*(np.unique(item[1]).tolist() for item in shown.values() if isinstance(item, tuple))))
    for row_index, (rows, label) in enumerate(((below, "below"), (above, "above")), start=1):
        for column in range(4):
            panel = figure.add_subplot(grid[row_index, column])
            panel.set_xticks([])
            panel.set_yticks([])
            if column >= len(rows):
                panel.axis("off")
                if column == 0 and not rows:
                    panel.text(0.5, 0.5, f"no masks {label} the threshold", ha="center", va="center")
                continue
            row = rows[column]
            panel.set_title(f"{label}: {row['estimated_dice']:.3f}\n{Path(row['image']).name}", fontsize=8)
            if not isinstance(shown[row["image"]], tuple):
                panel.text(0.5, 0.5, f"not shown:\n{' '.join(str(shown[row['image']]).split())[:80]}", ha="center",
                           va="center", fontsize=6, wrap=True)
                continue
            image, mask = shown[row["image"]]
            step = max(1, int(np.ceil(max(image.shape) / 256)))
            panel.imshow(label_outlines(image[::step, ::step], mask[::step, ::step], values))
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    label_legend(figure, values)
    save_figure(figure, path)

