"""Cardiothoracic ratio from our segmentations against the manual SCR masks, JSRT test fold.

The 50 test radiographs of the authors' split (256 px, 1.4 mm pixels) are segmented by
``acregnet corpus`` as a user runs it (atlases ``jsrt:train``, the bundled default model,
default options); the CTR of each mask (``corpus.csv``) is compared with the CTR that
:func:`acregnet_cli.anatomy.measure` reads off the manual mask.

    python experiments/ctr/ctr_jsrt.py                 # needs ACREGNET_DATA
    python experiments/ctr/ctr_jsrt.py --side 1024     # the images upsampled first

Writes ``experiments/ctr/jsrt-<side>-k<k>.csv`` (one row per image) and prints the summary
(mean absolute difference, bias, Pearson r, limits of agreement) as a Markdown row.
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
from scipy import ndimage, stats

from acregnet_cli.anatomy import measure

HERE = Path(__file__).resolve().parent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=256, help="Image side the test images are brought to.")
    parser.add_argument("--k", type=int, default=5, help="Atlases per image (corpus --k).")
    parser.add_argument("--passes", type=int, help="Network passes (corpus --passes; default: the model's own).")
    parser.add_argument("--model", help="Registration model (corpus --model; default: corpus's own).")
    parser.add_argument("--data", default=os.environ.get("ACREGNET_DATA"), help="The acrn data root.")
    args = parser.parse_args()
    root = Path(args.data)
    names = [Path(line.strip()).name for line in (root / "data/JSRT/split/test_images_256.txt").read_text().split()]
    with tempfile.TemporaryDirectory() as work:
        work = Path(work)
        (work / "images").mkdir()
        manual = {}
        for name in names:
            image = np.asarray(Image.open(root / "data/JSRT/LR_256/images" / name))
            labels = np.asarray(Image.open(root / "data/JSRT/LR_256/labels" / name))
            if args.side != 256:
                zoom = args.side / 256
                image = np.clip(ndimage.zoom(image.astype(np.float64), zoom, order=3, grid_mode=True, mode="nearest"),
                                0, 255).astype(np.uint8)
                labels = ndimage.zoom(labels, zoom, order=0, grid_mode=True, mode="nearest")
            Image.fromarray(image).save(work / "images" / name)
            manual[name] = measure(labels)["ctr"]
        began = time.perf_counter()
        subprocess.run([sys.executable, "-m", "acregnet_cli.cli", "corpus", str(work / "images"), "-o",
                        str(work / "out"), "--atlases", "jsrt:train", "--k", str(args.k), "--json"]
                       + (["--passes", str(args.passes)] if args.passes else [])
                       + (["--model", args.model] if args.model else []), check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - began
        table = pd.read_csv(work / "out" / "corpus.csv")
    rows = pd.DataFrame({"image": table["image"], "ctr_ours": table["ctr"],
                         "ctr_manual": [manual[name] for name in table["image"]]})
    rows["difference"] = rows.ctr_ours - rows.ctr_manual
    model = f"-{Path(args.model).name}" if args.model else ""
    rows.to_csv(HERE / f"jsrt-{args.side}-k{args.k}{model}.csv", index=False, float_format="%.4f")
    difference = rows.difference.to_numpy()
    r = stats.pearsonr(rows.ctr_ours, rows.ctr_manual)[0]
    spread = 1.96 * difference.std(ddof=1)
    print("| side | k | images | mean abs. difference | bias (ours - manual) | 95% limits of agreement | Pearson r | "
          "max abs. difference | corpus seconds |")
    print("| ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |")
    print(f"| {args.side} | {args.k} | {len(rows)} | {np.abs(difference).mean():.4f} | {difference.mean():+.4f} | "
          f"{difference.mean() - spread:+.4f} to {difference.mean() + spread:+.4f} | {r:.3f} | "
          f"{np.abs(difference).max():.4f} | {seconds:.0f} |")


if __name__ == "__main__":
    main()
