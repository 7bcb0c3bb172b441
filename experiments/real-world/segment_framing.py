"""``acregnet segment``'s framings on the framing variants of a dataset's test images.

The first COUNT test images of DATASET are brought to 1024 px and rewritten as each framing
variant of ``variants.py`` (the manual mask carried through the same change), then segmented
by ``acregnet segment`` with the leave-test-out atlases ``DATASET:train`` (the bundled
default model, k = 5) under each ``--framing``; mean Dice per structure against the masks.

    python experiments/real-world/segment_framing.py jsrt --count 25     # needs ACREGNET_DATA

Prints a Markdown table: a row per variant, a column per framing and structure.
"""

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from variants import _resize, dice, make_variant, structures  # noqa: E402

FRAMING_VARIANTS = ("original", "pad-25", "crop-8", "rotate-10", "zoom-0.8-grey", "zoom-1.25", "aspect-0.75",
                    "aspect-1.33")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["jsrt", "montgomery", "shenzhen"])
    parser.add_argument("--count", type=int, default=25)
    parser.add_argument("--framings", default="field-of-view,align")
    args = parser.parse_args()
    from acregnet_cli.applications.segmentation import load_dataset_fold

    _, names, images, labels = load_dataset_fold(f"{args.dataset}:test")
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for variant in FRAMING_VARIANTS:
            folder = Path(work) / variant
            folder.mkdir()
            truths = {}
            for name, image, label in zip(names[:args.count], images[:args.count], labels[:args.count]):
                eight = np.clip(np.rint(_resize(image.astype(np.float64), (1024, 1024), 1) * 255), 0, 255)
                big = _resize(np.asarray(label), (1024, 1024), 0)
                stored, truth = make_variant(variant, eight.astype(np.uint8), big)
                Image.fromarray(stored).save(folder / f"{name}.png")
                truths[name] = truth
            for framing in args.framings.split(","):
                out = Path(work) / f"{variant}-{framing}"
                subprocess.run([sys.executable, "-m", "acregnet_cli.cli", "segment",
                                *sorted(str(p) for p in folder.iterdir()), "--atlases", f"{args.dataset}:train",
                                "-o", str(out), "--framing", framing, "--no-overlay"],
                               check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for name, truth in truths.items():
                    mask = np.asarray(Image.open(out / f"{name}_mask.png"))
                    record = {"variant": variant, "framing": framing, "image": name}
                    for structure, values in structures(args.dataset).items():
                        record[structure] = dice(np.isin(mask, values), np.isin(truth, values))
                    rows.append(record)
            print(variant, file=sys.stderr, flush=True)
    table = pd.DataFrame(rows).groupby(["variant", "framing"], sort=False).mean(numeric_only=True).unstack("framing")
    table = table.reindex(FRAMING_VARIANTS)
    header = [f"{structure} {framing}" for structure, framing in table.columns]
    print("| variant | " + " | ".join(header) + " |")
    print("| --- " + "| ---: " * len(header) + "|")
    for variant, row in table.iterrows():
        print(f"| {variant} | " + " | ".join(f"{v:.4f}" for v in row) + " |")


if __name__ == "__main__":
    main()
