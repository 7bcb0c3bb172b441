"""How far apart do two frontal chest radiographs correlate before registration, and a
frontal film and a picture that is none? (``register``'s pair warning, issue 34.)

Each image cut to its field of view (edge bands off), padded to a square and brought to
64 px as the network sees it; the global NCC of every pair of:

- ``frontal``: the Montgomery and Shenzhen test folds against JSRT's test fold (three
  hospitals, as the curated files frame them);
- ``frontal-raw``: the datasets' original files at full framing (``raw-samples``) against
  JSRT's test fold;
- ``other``: what is at hand offline that is not a chest radiograph (``views.py``'s
  scikit-image and pydicom pictures) against JSRT's test fold.

    python experiments/views/pair_ncc.py

Prints, per kind, the number of pairs and the share under each threshold.
"""

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
import views  # noqa: E402

from acregnet_cli.applications.library import framed_ncc_vector  # noqa: E402
from acregnet_cli.applications.segmentation import load_dataset_fold  # noqa: E402
from acregnet_cli.io.images import load_radiograph  # noqa: E402

THRESHOLDS = (0.0, 0.05, 0.10, 0.15)


def vectors(images):
    # As register's warning computes it (acregnet_cli/workflows/register.py).
    return np.stack([framed_ncc_vector(image) for image in images])


def folder_images(make):
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        make(folder)
        return [load_radiograph(path, 1024, "auto").image for path in sorted(folder.iterdir())]


def main():
    root = Path(os.environ["ACREGNET_DATA"])
    jsrt = vectors(load_dataset_fold("jsrt:test")[2])
    kinds = {
        "frontal": vectors([image for dataset in ("montgomery", "shenzhen")
                            for image in load_dataset_fold(f"{dataset}:test")[2]]),
        "frontal-raw": vectors(folder_images(lambda folder: views.raw_files(folder, root))),
        "other": vectors(folder_images(views.other_files)),
    }
    print("| images against JSRT's test fold | pairs | " + " | ".join(f"NCC < {t:g}" for t in THRESHOLDS) + " |")
    print("| --- | ---: | " + " | ".join("---:" for _ in THRESHOLDS) + " |")
    for kind, found in kinds.items():
        ncc = (found @ jsrt.T / jsrt.shape[1]).ravel()
        print(f"| {kind} ({len(found)}) | {ncc.size} | "
              + " | ".join(f"{100 * np.mean(ncc < t):.1f}%" for t in THRESHOLDS) + " |")


if __name__ == "__main__":
    main()
