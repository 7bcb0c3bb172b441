"""Can the cardiothoracic ratio from our JSRT masks come closer to the manual masks' CTR
by reading it differently? Each variant is chosen on JSRT's training fold (segmented with
the test fold as atlases) and then measured once on the test fold (training fold as
atlases), as ``ctr_jsrt.py`` segments it.

    python experiments/ctr/refinements.py        # needs ACREGNET_DATA; about 2 minutes on 2 cores

Variants: the fused mask as ``acregnet corpus`` writes it; the median and the mean of the
CTRs of the k warped atlas masks; the heart's side borders moved, row by row in the lower
two thirds of the heart, to the strongest horizontal edge of the smoothed image within W
pixels (lung to heart rising on the image's left, falling on its right); a constant
offset learnt on the training fold. Prints one Markdown row per variant.
"""

import contextlib
import io
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

import acregnet_cli.applications.corpus as corpus_module
from acregnet_cli.anatomy import measure

VALUES = np.array([0, 1, 2, 3])


def segment(root, fold, atlases, work):
    """(images, manual label maps, fused masks, per-atlas masks) of a JSRT fold."""
    from acregnet_cli.cli import main

    names = [Path(line.strip()).name for line in (root / f"data/JSRT/split/{fold}_images_256.txt").read_text().split()]
    folder = work / fold
    folder.mkdir()
    for name in names:
        Image.open(root / "data/JSRT/LR_256/images" / name).save(folder / name)
    kept, original = [], corpus_module.atlas_agreement

    def keep(per_atlas, fused, classes):  # the pipeline's k warped atlas masks, image by image
        kept.append(per_atlas.copy())
        return original(per_atlas, fused, classes)

    corpus_module.atlas_agreement = keep
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # corpus's own summary
            main(["corpus", str(folder), "-o", str(work / f"out-{fold}"), "--atlases", atlases, "--json"],
                 standalone_mode=False)
    finally:
        corpus_module.atlas_agreement = original
    import pandas as pd

    table = pd.read_csv(work / f"out-{fold}" / "corpus.csv").sort_values("position")
    images = [np.asarray(Image.open(folder / name), np.float32) for name in table["image"]]
    manual = [np.asarray(Image.open(root / "data/JSRT/LR_256/labels" / name)) for name in table["image"]]
    fused = [np.asarray(Image.open(work / f"out-{fold}" / mask)) for mask in table["mask"]]
    return images, manual, fused, kept


def edge_width(image, heart, reach, sigma=1.0):
    """The heart's width with its side borders moved to the strongest edge within ``reach``."""
    gradient = ndimage.sobel(ndimage.gaussian_filter(image, sigma), axis=1)
    rows = np.flatnonzero(heart.any(axis=1))
    lefts, rights = [], []
    for row in rows[rows >= rows[0] + 0.3 * (rows[-1] - rows[0])]:
        columns = np.flatnonzero(heart[row])
        low = max(columns[0] - reach, 0)
        lefts.append(low + int(np.argmax(gradient[row, low:columns[0] + reach + 1])))
        low = max(columns[-1] - reach, 0)
        rights.append(low + int(np.argmin(gradient[row, low:columns[-1] + reach + 1])))
    return max(rights) - min(lefts) + 1


def variants(images, fused, per_atlas, offset=0.0):
    """CTR of every image under each reading."""
    measures = [measure(mask) for mask in fused]
    thorax = np.array([m["thoracic_width"] for m in measures])
    atlas_ctr = np.array([[measure(VALUES[a])["ctr"] for a in atlases] for atlases in per_atlas])
    found = {"fused mask (corpus)": np.array([m["ctr"] for m in measures]),
             "median of the k atlases' CTR": np.median(atlas_ctr, axis=1),
             "mean of the k atlases' CTR": atlas_ctr.mean(axis=1),
             "fused mask + offset learnt on train": np.array([m["ctr"] for m in measures]) + offset}
    for reach in (2, 3, 5):
        found[f"heart borders to the edge within {reach} px"] = np.array(
            [edge_width(image, mask == 3, reach) for image, mask in zip(images, fused)]) / thorax
    return found


def main():
    root = Path(os.environ["ACREGNET_DATA"])
    with tempfile.TemporaryDirectory() as work:
        train = segment(root, "train", "jsrt:test", Path(work))
        test = segment(root, "test", "jsrt:train", Path(work))
    truth = {fold: np.array([measure(m)["ctr"] for m in data[1]]) for fold, data in (("train", train), ("test", test))}
    on_train = variants(train[0], train[2], train[3])
    offset = float(np.mean(truth["train"] - on_train["fused mask (corpus)"]))
    on_test = variants(test[0], test[2], test[3], offset)
    print(f"offset learnt on the training fold: {offset:+.4f}", file=sys.stderr)
    ours, manual = [measure(m) for m in test[2]], [measure(m) for m in test[1]]
    for part in ("heart_width", "thoracic_width"):
        error = np.array([a[part] - b[part] for a, b in zip(ours, manual)])
        print(f"test: {part} off by {np.abs(error).mean():.2f} px on average (bias {error.mean():+.2f})", file=sys.stderr)
    mixed = np.array([b["heart_width"] / a["thoracic_width"] for a, b in zip(ours, manual)])
    print(f"test: manual heart over our thorax: {np.abs(mixed - truth['test']).mean():.4f}", file=sys.stderr)
    print("| reading | train: mean abs. difference | test: mean abs. difference | test: bias | test: Pearson r |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in on_test:
        train_error = np.abs(on_train[name] + (offset if "offset" in name else 0) - truth["train"]).mean()
        difference = on_test[name] - truth["test"]
        print(f"| {name} | {train_error:.4f} | {np.abs(difference).mean():.4f} | {difference.mean():+.4f} | "
              f"{np.corrcoef(on_test[name], truth['test'])[0, 1]:.3f} |")


if __name__ == "__main__":
    main()
