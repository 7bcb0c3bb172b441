"""Does the paper's mask autoencoder tell a wrong mask from a right one on other hospitals?

Issue 34 lists "the plausibility of the mask under the paper's mask autoencoder" among the
signals a quality estimate could use. Every Montgomery and Shenzhen radiograph (688, two
hospitals the default model and atlases never saw) goes through ``acregnet corpus`` with
its defaults at the curated 256 px; each mask is brought to the autoencoder's 64 px
(nearest label) and passed through the bundled JSRT autoencoder (``jsrt-ae``); its
plausibility is the mean Dice, over the three structures, of the reconstruction with the
mask. Its Pearson r with the true lungs Dice (the manual masks, and those outside our heart)
is printed beside the estimate's, from the same run.

    python experiments/qc-real-world/ae_plausibility.py     # needs ACREGNET_DATA; about 5 minutes
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "real-world"))
from other_hospitals import DATASETS, dice, write_images  # noqa: E402


def plausibility(masks):
    """Mean per-structure Dice of the jsrt autoencoder's reconstruction of each 64 px mask."""
    from acregnet_cli.applications.library import nearest_square
    from acregnet_cli.metrics import mean_dice
    from acregnet_cli.models.files import load_autoencoder, resolve_model
    from acregnet_cli.tf import sampling

    encoder, decoder, description = load_autoencoder(resolve_model("jsrt-ae"))
    small = np.stack([nearest_square(mask, description["size"]) for mask in masks])
    codes = encoder(sampling.one_hot_masks(small, description["num_classes"]), training=False)
    rebuilt = np.argmax(decoder(codes, training=False).numpy(), axis=-1)
    return [mean_dice(b, a, (1, 2, 3)) for a, b in zip(small, rebuilt)]


def main():
    root = Path(os.environ["ACREGNET_DATA"])
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for dataset in DATASETS:
            folder, out = Path(work) / dataset, Path(work) / f"out-{dataset}"
            folder.mkdir()
            truths = write_images(root, dataset, 256, folder)
            subprocess.run([sys.executable, "-m", "acregnet_cli.cli", "corpus", str(folder), "-o", str(out)],
                           check=True, stdout=subprocess.DEVNULL)
            table = pd.read_csv(out / "corpus.csv")
            table = table[table.status == "ok"]
            masks = [np.asarray(Image.open(out / name)) for name in table["mask"]]
            for (_, row), mask, plausible in zip(table.iterrows(), masks, plausibility(masks)):
                lungs, truth = np.isin(mask, (1, 2)), truths[row["image"]]
                rows.append({"dataset": dataset, "image": row["image"], "estimated_dice": row["estimated_dice"],
                             "atlas_agreement": row["atlas_agreement"], "plausibility": plausible,
                             "lungs": dice(lungs, truth), "lungs_outside_heart": dice(lungs, truth & (mask != 3))})
    frame = pd.DataFrame(rows)
    print(f"plausibility: mean {frame.plausibility.mean():.4f}, sd {frame.plausibility.std():.4f}, "
          f"min {frame.plausibility.min():.4f}")
    print("| dataset | masks | truth | estimated_dice: r | atlas_agreement: r | plausibility: r |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for dataset, part in frame.groupby("dataset", sort=False):
        for truth in ("lungs", "lungs_outside_heart"):
            r = [np.corrcoef(part[signal], part[truth])[0, 1] for signal in
                 ("estimated_dice", "atlas_agreement", "plausibility")]
            print(f"| {dataset} | {len(part)} | {truth} | " + " | ".join(f"{v:.3f}" for v in r) + " |")


if __name__ == "__main__":
    main()
