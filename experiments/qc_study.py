"""How well does RCA quality control track the real Dice? (issue: applications)

Segments a dataset's test images (JSRT by default) by multi-atlas segmentation
(atlases: training images), damages copies of the segmentations (eroded, shifted, a lung removed),
predicts every mask's quality with reverse classification accuracy against the
training references, and compares with the true Dice against the manual masks:
correlation, and accuracy of accepting at the threshold.

Usage: python experiments/qc_study.py MODEL OUTDIR [--dataset jsrt] [--data-dir ROOT] [--threshold 0.92]
"""

import argparse
import json
from pathlib import Path

import numpy as np
from scipy import ndimage, stats

from acregnet_cli.applications.quality import predicted_quality
from acregnet_cli.applications.segmentation import AtlasSet, segment
from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
from acregnet_cli.datasets.layout import load_split
from acregnet_cli.metrics import mean_dice
from acregnet_cli.models.files import load_vector_cnn
from acregnet_cli.registration import Registrar


def damage(labels, kind, rng, classes=(1, 2, 3)):
    if kind == "eroded":
        out = labels.copy()
        for value in classes:
            structure = labels == value
            out[structure & ~ndimage.binary_erosion(structure, iterations=6)] = 0
        return out
    if kind == "shifted":
        return np.roll(labels, rng.choice([-1, 1]) * rng.randint(15, 30), axis=rng.randint(2))
    if kind == "lung removed":
        out = labels.copy()
        if tuple(classes) == (1,):
            # One lung class: remove the lung on one side of the image.
            from acregnet_cli.applications.experiments import lung_component

            out[lung_component(labels, rng.choice(["left", "right"]))] = 0
        else:
            out[out == rng.choice([1, 2])] = 0
        return out
    raise ValueError(kind)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model")
    parser.add_argument("outdir")
    parser.add_argument("--dataset", default="jsrt")
    parser.add_argument("--data-dir")
    parser.add_argument("--threshold", type=float, default=0.92)
    parser.add_argument("--references", type=int, default=20)
    args = parser.parse_args()
    config = load_dataset_config(args.dataset)
    classes = tuple(range(1, config.num_classes))
    root = resolve_data_root(args.data_dir)
    train, test = load_split(config, root, "train", 256), load_split(config, root, "test", 256)
    atlases = AtlasSet(train.names, list(train.images), list(train.labels))
    model, description = load_vector_cnn(args.model)
    registrar = Registrar(model, description["size"], description.get("resize", "modern"))
    rng = np.random.RandomState(0)
    rows = []
    for name, image, truth in zip(test.names, test.images, test.labels):
        predicted, _ = segment(image, atlases, registrar, k=5)
        candidates = {"segmentation": predicted}
        for kind in ("eroded", "shifted", "lung removed"):
            candidates[kind] = damage(predicted, kind, rng, classes)
        for kind, mask in candidates.items():
            quality, info = predicted_quality(image, mask, atlases, registrar, args.references)
            rows.append({"image": name, "kind": kind, "true_dice": mean_dice(mask, truth, classes),
                         "predicted_dice": quality, "seconds": info["seconds"]})
        print(name, [(r["kind"], round(r["true_dice"], 3), round(r["predicted_dice"], 3)) for r in rows[-4:]])
    true = np.array([r["true_dice"] for r in rows])
    pred = np.array([r["predicted_dice"] for r in rows])
    good, accepted = true >= args.threshold, pred >= args.threshold
    summary = {
        "model": args.model, "dataset": config.name, "masks": len(rows), "threshold": args.threshold, "references": args.references,
        "pearson_r": float(stats.pearsonr(true, pred)[0]), "spearman_rho": float(stats.spearmanr(true, pred)[0]),
        "mean_absolute_error": float(np.mean(np.abs(true - pred))),
        "decision_accuracy": float(np.mean(good == accepted)),
        "true_positive_rate": float(np.mean(accepted[good])) if good.any() else None,
        "true_negative_rate": float(np.mean(~accepted[~good])) if (~good).any() else None,
        "by_kind": {kind: {"true_dice": float(np.mean([r["true_dice"] for r in rows if r["kind"] == kind])),
                           "predicted_dice": float(np.mean([r["predicted_dice"] for r in rows if r["kind"] == kind]))}
                    for kind in ("segmentation", "eroded", "shifted", "lung removed")},
        "seconds_per_mask": float(np.mean([r["seconds"] for r in rows])),
    }
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "qc_study.json").write_text(json.dumps(summary, indent=2) + "\n")
    import csv

    with open(out / "qc_study.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
