"""Radiographs of hospitals the default model and atlases never saw, through ``acregnet corpus``.

The bundled default model (``jsrt``) was trained on JSRT (Japan) alone, and ``corpus``'s
default atlases and references are JSRT's training fold. Every radiograph of Montgomery
(USA, 138) and Shenzhen (China, 550), training and test folds alike, is therefore from a
hospital neither has seen; each dataset's manual lung masks are the truth. The files are
the curated 256 px images brought to SIDE px (the datasets' originals are not here), run
through ``acregnet corpus`` with its defaults as a user runs it.

    python experiments/real-world/other_hospitals.py -o experiments/real-world/other-hospitals   # ACREGNET_DATA

Measures, per dataset: lungs Dice (both lungs as one: these masks hold one lung label, and,
like JSRT's SCR masks, leave out the lung behind the heart); frontal radiographs refused
as not chest radiographs; and quality control against the truth: Pearson r and mean bias
of ``estimated_dice`` (and of ``rca_mean``, ``atlas_agreement``), masks accepted at 0.92 and
those among them with a true Dice below 0.85. Writes ``scores.csv`` (one row per image)
``summary.md`` and ``worst.png`` (the four lowest lungs Dice: manual lungs green, ours red,
our heart yellow).
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

DATASETS = {"montgomery": "Montgomery", "shenzhen": "Shenzhen"}


def dice(a, b):
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else 1.0


def write_images(root, dataset, side, folder):
    """Every image of the dataset at ``side`` px into ``folder``; its truth (lungs) by name."""
    truths = {}
    base = root / "data" / DATASETS[dataset]
    for fold in ("train", "test"):
        listed = [(base / f"split/{fold}_{kind}_256.txt").read_text().split() for kind in ("images", "labels")]
        for image_line, label_line in zip(*listed):
            name = Path(image_line).name
            image = np.asarray(Image.open(base / "LR_256/images" / name), np.float64)
            labels = np.asarray(Image.open(base / "LR_256/labels" / Path(label_line).name))
            zoom = side / image.shape[0]
            image = np.clip(np.rint(ndimage.zoom(image, zoom, order=3, grid_mode=True, mode="nearest")), 0, 255)
            Image.fromarray(image.astype(np.uint8)).save(folder / name)
            truths[name] = ndimage.zoom(labels, zoom, order=0, grid_mode=True, mode="nearest") > 0
    return truths


def outline(mask):
    return mask & ~ndimage.binary_erosion(mask)


def draw_worst(frame, work, truths, path, count=4):
    """The ``count`` images of lowest lungs Dice, 256 px each: the manual lungs in green, ours in
    red, our heart in yellow."""
    tiles = []
    for _, row in frame[frame.status == "ok"].nsmallest(count, "lungs").iterrows():
        out = Path(work) / f"out-{row.dataset}"
        mask = np.asarray(Image.open(out / row["mask"]))
        picture = np.asarray(Image.open(Path(work) / row.dataset / row.image).convert("L"))
        step = max(1, picture.shape[0] // 256)
        colour = np.repeat(picture[::step, ::step, None], 3, axis=2)
        for part, rgb in ((truths[row.image], (0, 255, 0)), (np.isin(mask, (1, 2)), (255, 0, 0)),
                          (mask == 3, (255, 255, 0))):
            colour[outline(part[::step, ::step])] = rgb
        tiles.append(colour)
    Image.fromarray(np.concatenate(tiles, axis=1)).save(path)


def summarise(frame, truth="lungs"):
    lines = [f"Truth: `{truth}`.", "",
             "| dataset | images | refused (not-chest) | lungs Dice mean | median | below 0.90 | below 0.85 | "
             "estimated vs true: r | bias | rca_mean: r | atlas_agreement: r | accepted at 0.92 | "
             "accepted, true < 0.85 | corpus images/s |",
             "| --- " + "| ---: " * 13 + "|"]
    for dataset, rows in frame.groupby("dataset", sort=False):
        done = rows[rows.status == "ok"].rename(columns={truth: "truth"})
        accepted = done[done.estimated_dice >= 0.92]

        def r(column):
            return f"{np.corrcoef(done[column], done.truth)[0, 1]:.3f}"

        lines.append(f"| {dataset} | {len(rows)} | {(rows.status == 'not-chest').sum()} | {done.truth.mean():.4f} | "
                     f"{done.truth.median():.4f} | {(done.truth < 0.90).sum()} | {(done.truth < 0.85).sum()} | "
                     f"{r('estimated_dice')} | {(done.estimated_dice - done.truth).mean():+.4f} | {r('rca_mean')} | "
                     f"{r('atlas_agreement')} | {len(accepted)} | {(accepted.truth < 0.85).sum()} | "
                     f"{len(rows) / rows.seconds.iloc[0]:.2f} |")
    return lines


ALL_SIGNALS = ("estimated_dice", "atlas_agreement", "rca_mean", "rca_max", "dice_1", "dice_2", "dice_3", "best_ncc",
               "global_reach", "band_fraction")


def cross_fit(frame, signals=("estimated_dice", "atlas_agreement")):
    """A least-squares mix of the QC signals fitted on one hospital's manual truth and tested
    on the other's: lines of r and bias."""
    done = frame[frame.status == "ok"]
    lines = []
    for fitted, tested in (("montgomery", "shenzhen"), ("shenzhen", "montgomery")):
        train, test = done[done.dataset == fitted], done[done.dataset == tested]
        weights = np.linalg.lstsq(np.c_[np.ones(len(train)), train[list(signals)]], train.lungs, rcond=None)[0]
        predicted = np.c_[np.ones(len(test)), test[list(signals)]] @ weights
        lines.append(f"- {' + '.join(signals)} fitted on {fitted}, tested on {tested}: r "
                     f"{np.corrcoef(predicted, test.lungs)[0, 1]:.3f}, bias {np.mean(predicted - test.lungs):+.4f}, "
                     f"accepted at 0.92 with true < 0.85: {((predicted >= 0.92) & (test.lungs < 0.85)).sum()}")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1024, help="Side the 256 px images are brought to.")
    parser.add_argument("--data", default=os.environ.get("ACREGNET_DATA"), help="The acrn data root.")
    parser.add_argument("--summary-only", action="store_true", help="Summarise OUTPUT/scores.csv again.")
    parser.add_argument("--model", help="Registration model for corpus (default: corpus's own, the bundled jsrt).")
    parser.add_argument("--only", choices=tuple(DATASETS), help="One hospital only.")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    root, output = Path(args.data), Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    if args.summary_only:
        return report(pd.read_csv(output / "scores.csv"), output, args.side)
    rows, all_truths = [], {}
    with tempfile.TemporaryDirectory() as work:
        for dataset in [args.only] if args.only else DATASETS:
            folder = Path(work) / dataset
            folder.mkdir()
            truths = write_images(root, dataset, args.side, folder)
            began = time.perf_counter()
            model = ["--model", args.model] if args.model else []
            subprocess.run([sys.executable, "-m", "acregnet_cli.cli", "corpus", str(folder), "-o",
                            str(Path(work) / f"out-{dataset}"), *model], check=True, stdout=subprocess.DEVNULL)
            seconds = time.perf_counter() - began
            table = pd.read_csv(Path(work) / f"out-{dataset}" / "corpus.csv")
            for _, row in table.iterrows():
                record = {"dataset": dataset, "image": row["image"], "status": row["status"], "reason": row["reason"],
                          "seconds": seconds}
                for column in ("estimated_dice", "dice_1", "dice_2", "dice_3", "rca_mean", "rca_max",
                               "atlas_agreement", "band_fraction", "aligned", "global_reach"):
                    record[column] = row[column]
                record["best_ncc"] = float(str(row["atlas_ncc"]).split()[0]) if isinstance(row["atlas_ncc"], str) \
                    else None
                if isinstance(row["mask"], str) and row["mask"]:
                    mask = np.asarray(Image.open(Path(work) / f"out-{dataset}" / row["mask"]))
                    record["mask"] = row["mask"]
                    record["lungs"] = dice(np.isin(mask, (1, 2)), truths[row["image"]])
                    # These masks often hold the lung behind the heart (JSRT's SCR masks, hence
                    # the atlases, leave it out): scored again outside our heart.
                    record["lungs_outside_heart"] = dice(np.isin(mask, (1, 2)), truths[row["image"]] & (mask != 3))
                rows.append(record)
            print(f"{dataset}: {len(table)} images, {seconds:.0f} s", file=sys.stderr, flush=True)
            all_truths.update(truths)
        frame = pd.DataFrame(rows)
        draw_worst(frame, work, all_truths, output / "worst.png")
    frame.to_csv(output / "scores.csv", index=False, float_format="%.5f")
    report(frame, output, args.side)


def report(frame, output, side):
    lines = [f"# Other hospitals: Montgomery and Shenzhen at {side} px, `acregnet corpus` defaults", ""]
    lines += summarise(frame) + [""] + summarise(frame, "lungs_outside_heart") + [""]
    if frame.dataset.nunique() > 1:
        # Two signals, then every number corpus.csv holds about a mask's quality.
        lines += cross_fit(frame) + cross_fit(frame, ALL_SIGNALS)
    (output / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
