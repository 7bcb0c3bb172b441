"""Compare two folders written by record.sh: fields to 1e-6 px, masks and tables exactly.

usage: python experiments/refactor-identity/compare.py BEFORE AFTER
Prints one line per kind of output and exits 1 if any differs.
"""

import csv
import sys
from pathlib import Path

import numpy as np
from PIL import Image

# Columns that measure time, not behaviour.
TIMING = {"seconds", "seconds_total", "seconds_model"}


def table(path):
    with open(path, newline="") as handle:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(handle)]


def compare(before, after):
    failures = []

    def check(label, ok, detail):
        print(f"{'same' if ok else 'DIFFERENT'}: {label} ({detail})")
        if not ok:
            failures.append(label)

    for name in ("pairs.csv", "summary.csv"):
        a, b = table(before / "evaluate" / name), table(after / "evaluate" / name)
        # Columns a later version adds (evaluate's folded share) are reported, not compared.
        shared = set(a[0]) & set(b[0]) if a and b else set()
        added = sorted(set(b[0]) - set(a[0])) if a and b else []
        a = [{k: v for k, v in row.items() if k in shared} for row in a]
        b = [{k: v for k, v in row.items() if k in shared} for row in b]
        check(f"evaluate {name}", a == b, f"{len(a)} rows" + (f"; new columns: {', '.join(added)}" if added else ""))
    for engine in ("tensorflow", "numpy"):
        fields = sorted((before / f"register-{engine}").glob("*/field.npy"))
        worst, masks_equal, images_equal = 0.0, 0, 0
        for field in fields:
            other = after / field.relative_to(before)
            worst = max(worst, float(np.abs(np.load(field) - np.load(other)).max()))
            for name, counter in (("warped_mask.png", "m"), ("warped.png", "i")):
                same = np.array_equal(np.asarray(Image.open(field.parent / name)),
                                      np.asarray(Image.open(other.parent / name)))
                if counter == "m":
                    masks_equal += same
                else:
                    images_equal += same
        check(f"register {engine} fields", fields and worst <= 1e-6, f"{len(fields)} pairs, max |diff| {worst:.2e} px")
        check(f"register {engine} warped masks", masks_equal == len(fields), f"{masks_equal}/{len(fields)} equal")
        check(f"register {engine} warped images", images_equal == len(fields), f"{images_equal}/{len(fields)} equal")
    masks = sorted((before / "segment").glob("*_mask.png"))
    equal = sum(np.array_equal(np.asarray(Image.open(m)), np.asarray(Image.open(after / "segment" / m.name)))
                for m in masks)
    check("segment masks", masks and equal == len(masks), f"{equal}/{len(masks)} equal")
    a, b = table(before / "train" / "log.csv"), table(after / "train" / "log.csv")
    check("train-reg loss log", a == b and len(a) == 20, f"{len(a)} rows")
    return failures


if __name__ == "__main__":
    failed = compare(Path(sys.argv[1]), Path(sys.argv[2]))
    sys.exit(1 if failed else 0)
