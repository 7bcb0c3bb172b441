"""``register`` on pairs framed differently: no global step, ``--prealign affine`` (fitted by
gradient descent on minus NCC), and ``--prealign align`` (the map the network's own field
agrees on, refined over up to three calls, as ``corpus`` aligns).

Pairs: JSRT test image i (moving, rewritten as a framing variant of ``variants.py`` with
its manual mask carried along) onto test image i + 1 (fixed, as stored); 256 px; the
bundled default model with its two passes. Score: mean Dice of the warped mask with the
fixed image's manual mask over the lungs and the heart.

    python experiments/real-world/register_prealign.py --pairs 20    # needs ACREGNET_DATA; about 5 minutes
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from variants import make_variant  # noqa: E402  (this folder's variants)

from acregnet_cli.applications.segmentation import load_dataset_fold  # noqa: E402
from acregnet_cli.io.images import array_to_gray  # noqa: E402
from acregnet_cli.options import RegistrationOptions  # noqa: E402
from acregnet_cli.registration import make_registrar  # noqa: E402

FRAMINGS = ("original", "pad-25", "band-below", "crop-8", "rotate-10", "zoom-0.8-grey", "zoom-1.25", "aspect-0.75",
            "aspect-1.33")
METHODS = (None, "affine", "align")


def mean_dice(warped, truth):
    scores = []
    for value in (1, 2, 3):
        a, b = warped == value, truth == value
        scores.append(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))
    return float(np.mean(scores))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _, names, images, labels = load_dataset_fold("jsrt:test")
    stored = [np.rint(np.asarray(image) * 255).astype(np.uint8) for image in images]
    registrars = {method: make_registrar("jsrt", RegistrationOptions(prealign=method, engine="tensorflow"))
                  for method in METHODS}
    print("| moving image | " + " | ".join(f"prealign {m or 'none'}" for m in METHODS) + " |")
    print("| --- |" + " ---: |" * len(METHODS))
    seconds = dict.fromkeys(METHODS, 0.0)
    for framing in FRAMINGS:
        jobs, truths = [], []
        for i in range(args.pairs):
            moving, mask = make_variant(framing, stored[i], labels[i])
            # Read as register reads the file (a window from its content); the fixed image as stored.
            jobs.append((array_to_gray(moving, "moving"), np.asarray(images[i + 1], np.float32), np.asarray(mask)))
            truths.append(labels[i + 1])
        cells = []
        for method in METHODS:
            began = time.perf_counter()
            results = registrars[method].register_many(jobs)
            seconds[method] += time.perf_counter() - began
            cells.append(np.mean([mean_dice(r.warped_mask, t) for r, t in zip(results, truths)]))
        print(f"| {framing} | " + " | ".join(f"{c:.4f}" for c in cells) + " |", flush=True)
    count = args.pairs * len(FRAMINGS)
    print()
    print("Seconds per pair (in process, batch of the pairs): " +
          ", ".join(f"{m or 'none'} {seconds[m] / count:.3f}" for m in METHODS))


if __name__ == "__main__":
    main()
