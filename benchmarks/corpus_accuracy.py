"""Does ``acregnet corpus`` keep today's accuracy? Side by side in one run, bundled models:

1. Leave-test-out multi-atlas segmentation (k = 5, majority; atlases: the training fold)
   of JSRT, Montgomery and Shenzhen test images: Dice per structure of ``segment`` (today)
   and of the corpus pipeline, at 256 and, for JSRT, at 1024 (images resampled up, masks
   compared with the manual masks resampled by nearest label).
2. RCA quality control on JSRT (as ``experiments/qc_study.py``): the test images'
   segmentations and damaged copies (eroded, shifted, a lung removed) scored against
   the manual masks and estimated by RCA: today's ``qc`` (20 references) and the
   corpus's estimate (``--max-references``, 10 by default), at 256 and 1024: Pearson r.

Needs ``ACREGNET_DATA``. Writes ``benchmarks/results/corpus-accuracy-<label>.md``.

Usage:
    python benchmarks/corpus_accuracy.py [--label NAME] [--max-references 10]
"""

import argparse
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "experiments"))


def upsample(image, size, labels=False):
    picture = Image.fromarray(image.astype(np.uint8) if labels else (np.clip(image, 0, 1) * 255).astype(np.uint8))
    picture = picture.resize((size, size), Image.NEAREST if labels else Image.BILINEAR)
    return np.asarray(picture) if labels else np.asarray(picture, np.float32) / 255


def dice_per_class(labels, truth, values):
    out = []
    for value in values:
        a, b = labels == value, truth == value
        out.append(2.0 * (a & b).sum() / max(a.sum() + b.sum(), 1))
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", default="cpu")
    parser.add_argument("--max-references", type=int, default=10)
    args = parser.parse_args()
    if not os.environ.get("ACREGNET_DATA"):
        sys.exit("set ACREGNET_DATA to the data root (acrn)")
    from qc_study import damage
    from scipy import stats

    from acregnet_cli.applications.corpus import CorpusPipeline
    from acregnet_cli.applications.quality import predicted_quality
    from acregnet_cli.applications.segmentation import (
        AtlasSet,
        load_dataset_fold,
        segment,
    )
    from acregnet_cli.metrics import mean_dice
    from acregnet_cli.options import RegistrationOptions
    from acregnet_cli.registration import make_registrar

    lines = [f"# acregnet corpus: accuracy against today's segment and qc ({args.label})", "",
             "## 1. Leave-test-out multi-atlas Dice (k = 5, majority vote), per structure", "",
             "| dataset | structure | segment (today) | corpus | corpus at 1024 |", "| --- | --- | ---: | ---: | ---: |"]
    registrar = make_registrar("jsrt", RegistrationOptions(engine="tensorflow"), keep_onehot=True)
    keep = {}
    for dataset in ("jsrt", "montgomery", "shenzhen"):
        config, _names, images, labels = load_dataset_fold(f"{dataset}:test")
        _, atlas_names, atlas_images, atlas_labels = load_dataset_fold(f"{dataset}:train")
        atlases = AtlasSet(atlas_names, atlas_images, atlas_labels)
        model_registrar = make_registrar(dataset, RegistrationOptions(engine="tensorflow"), keep_onehot=True)
        pipeline = CorpusPipeline(atlases, atlases, model_registrar, k=5, max_references=args.max_references)
        values = [v for v in atlases.values if v != 0]
        today = np.array([dice_per_class(segment(image, atlases, model_registrar, k=5)[0], truth, values)
                          for image, truth in zip(images, labels)])
        results = [r for start in range(0, len(images), 8) for r in pipeline.process(images[start:start + 8])]
        corpus = np.array([dice_per_class(r.labels, truth, values) for r, truth in zip(results, labels)])
        full = None
        if dataset == "jsrt":
            big = [upsample(image, 1024) for image in images]
            results_big = [r for start in range(0, len(big), 8) for r in pipeline.process(big[start:start + 8])]
            full = np.array([dice_per_class(r.labels, upsample(truth, 1024, labels=True), values)
                             for r, truth in zip(results_big, labels)])
            keep.update(pipeline=pipeline, atlases=atlases, images=images, labels=labels, results=results)
        for k, value in enumerate(values):
            name = config.class_names[list(config.label_values).index(value)] if value in config.label_values \
                else str(value)
            lines.append(f"| {dataset} | {name} | {today[:, k].mean():.4f} | {corpus[:, k].mean():.4f} | "
                         + (f"{full[:, k].mean():.4f} |" if full is not None else "|"))
        print("\n".join(lines[-len(values):]), flush=True)

    # 2. RCA on JSRT: segmentations and damaged copies.
    pipeline, atlases, images, labels = keep["pipeline"], keep["atlases"], keep["images"], keep["labels"]
    classes = [v for v in atlases.values if v != 0]
    rng = np.random.RandomState(0)
    masks, owners = [], []
    for index, result in enumerate(keep["results"]):
        masks.append(result.labels)
        owners.append(index)
        for kind in ("eroded", "shifted", "lung removed"):
            masks.append(damage(result.labels, kind, rng, classes=tuple(classes)))
            owners.append(index)
    truth = np.array([mean_dice(mask, labels[i], classes) for mask, i in zip(masks, owners)])
    today = np.array([predicted_quality(images[i], mask, atlases, registrar, 20)[0] for mask, i in zip(masks, owners)])
    corpus = np.concatenate([[r.estimated_dice for r in pipeline.estimate([images[i] for i in owners[s:s + 8]],
                                                                          masks[s:s + 8])]
                             for s in range(0, len(masks), 8)])
    big_images = {i: upsample(images[i], 1024) for i in set(owners)}
    corpus_big = np.concatenate([[r.estimated_dice for r in pipeline.estimate(
        [big_images[i] for i in owners[s:s + 8]], [upsample(m, 1024, labels=True) for m in masks[s:s + 8]])]
        for s in range(0, len(masks), 8)])
    lines += ["", (f"## 2. RCA on JSRT: {len(masks)} masks (the test images' segmentations and three damaged "
                  "copies each), estimated against the true Dice"), "",
              "| estimator | references | Pearson r | mean abs. error |", "| --- | ---: | ---: | ---: |"]
    for name, refs, estimate in (("qc (today)", 20, today), ("corpus, 256", args.max_references, corpus),
                                 ("corpus, 1024", args.max_references, corpus_big)):
        lines.append(f"| {name} | {refs} | {stats.pearsonr(estimate, truth)[0]:.4f} | "
                     f"{np.abs(estimate - truth).mean():.4f} |")
    lines += ["", (f"Command: `python benchmarks/corpus_accuracy.py --label {args.label} "
                  f"--max-references {args.max_references}`")]
    out = HERE / "results" / f"corpus-accuracy-{args.label}.md"
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
