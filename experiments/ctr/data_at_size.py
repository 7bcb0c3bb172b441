"""A data root holding JSRT at another network size, made from the authors' 256 px files.

The authors' layout has JSRT at 256 and 64 px only; ``train-reg --size 128`` reads
``LR_128`` and ``split/*_128.txt``. Images are area-averaged; each label is the one that
covers most of its block (its one-hot area average, arg-max). LR_256 and LR_64 are linked,
their split lists copied.

    python experiments/ctr/data_at_size.py --size 128 -o /tmp/acrn128   # needs ACREGNET_DATA
"""

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128, help="Side of the new level (divides 256).")
    parser.add_argument("--data", default=os.environ.get("ACREGNET_DATA"), help="The acrn data root.")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args()
    if 256 % args.size:
        parser.error("--size must divide 256")
    source, target = Path(args.data) / "data" / "JSRT", Path(args.output) / "data" / "JSRT"
    level = target / f"LR_{args.size}"
    for kind in ("images", "labels"):
        (level / kind).mkdir(parents=True, exist_ok=True)
    (target / "split").mkdir(exist_ok=True)
    for name in ("LR_256", "LR_64"):
        if not (target / name).exists():
            (target / name).symlink_to(source / name)
    block = 256 // args.size
    for path in sorted((source / "LR_256" / "images").glob("*.png")):
        Image.open(path).resize((args.size, args.size), Image.BOX).save(level / "images" / path.name)
        labels = np.asarray(Image.open(source / "LR_256" / "labels" / path.name))
        values = np.unique(labels)
        share = np.stack([(labels == v).reshape(args.size, block, args.size, block).mean((1, 3)) for v in values])
        Image.fromarray(values[share.argmax(0)].astype(labels.dtype)).save(level / "labels" / path.name)
    for listing in sorted((source / "split").glob("*.txt")):
        (target / "split" / listing.name).write_text(listing.read_text())
        if listing.name.endswith("_64.txt"):
            text = listing.read_text().replace("LR_64", f"LR_{args.size}")
            (target / "split" / listing.name.replace("_64.txt", f"_{args.size}.txt")).write_text(text)


if __name__ == "__main__":
    main()
