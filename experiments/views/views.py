"""Which files does ``acregnet corpus`` refuse as not frontal chest radiographs?

Three folders, each through ``acregnet corpus`` with its defaults (atlases ``jsrt:train``,
the bundled default model):

- ``frontal-raw``: the public datasets' original files at full framing
  (``$ACREGNET_DATA/../raw-samples``: JSRT, Montgomery, Shenzhen radiographs; masks left out);
- ``frontal-test``: the test folds of the three curated datasets, at 1024 px;
- ``other``: what is not a chest radiograph and is at hand offline: scikit-image's sample
  pictures (photographs, a text page, microscopy, a retina, the moon, a CT phantom) and
  pydicom's CT and MR test slices;
- ``masks``: the datasets' own mask files (a folder often holds them beside the images);
- ``other-unseen``: pydicom's other test pictures (``UNSEEN``), looked at only after the
  gates were set.
  No lateral radiograph is in it (none with a licence
  allowing it was found outside the reserved COVID-19 collections).

    python experiments/views/views.py -o experiments/views/views.csv
    python experiments/views/views.py --min-agreement 0 -o /tmp/before.csv   # no agreement gate
    git worktree add /tmp/old a562c28 && PYTHONPATH=/tmp/old \
        python experiments/views/views.py --min-agreement none -o /tmp/old.csv  # the code before both gates

Prints, per folder, how many files were refused (``not-chest``), accepted at 0.92 and
segmented; writes one row per file.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

# scikit-image samples that are not pictures of one 2-D scene, or need a download.
_SKIP = {"binary_blobs", "brain", "cells3d", "data_dir", "download_all", "eagle", "file_hash", "human_mitosis",
         "image_fetcher", "kidney", "lfw_subset", "lily", "load", "nickel_solidification", "palisades_of_vogt",
         "protein_transport", "skin", "stereo_motorcycle", "vortex"}


def other_files(folder):
    import skimage.data
    from pydicom.data import get_testdata_file

    for name in sorted(n for n in dir(skimage.data) if not n.startswith("_") and n not in _SKIP):
        try:
            picture = np.asarray(getattr(skimage.data, name)())
        except Exception:  # a sample that needs the network
            continue
        if picture.ndim not in (2, 3) or min(picture.shape[:2]) < 64 or (picture.ndim == 3 and picture.shape[2] > 4):
            continue
        if picture.dtype != np.uint8:
            picture = picture.astype(np.float64)
            picture = np.rint(255 * (picture - picture.min()) / (np.ptp(picture) or 1)).astype(np.uint8)
        Image.fromarray(picture).save(folder / f"{name}.png")
    for name in ("CT_small.dcm", "MR_small.dcm"):
        shutil.copy(get_testdata_file(name), folder / name)


# pydicom's other test images, one file per distinct picture: two CT slices, a nuclear-medicine
# whole-body bone scan, three ultrasound frames, an MR slice with an overlay, a secondary
# capture, a colour test picture, a segmentation. The gates were set before these were looked
# at (the held-out check of the views study).
UNSEEN = ("693_J2KI.dcm", "J2K_pixelrep_mismatch.dcm", "JPEG2000.dcm", "examples_jpeg2k.dcm", "examples_palette.dcm",
          "examples_rgb_color.dcm", "examples_overlay.dcm", "image_dfl.dcm", "SC_rgb_jpeg_dcmd.dcm",
          "SC_jpeg_no_color_transform.dcm", "liver_1frame.dcm")


def unseen_files(folder):
    from pydicom.data import get_testdata_file

    for name in UNSEEN:
        shutil.copy(get_testdata_file(name), folder / name)


def raw_files(folder, root):
    for path in sorted((root.parent / "raw-samples").glob("*/*/*")):
        if "mask" not in path.name.lower() and "Mask" not in str(path.parent) and path.parent.name != "masks":
            shutil.copy(path, folder / path.name)


def mask_files(folder, root):
    """The datasets' own mask files (stored beside the images in their layouts)."""
    for path in sorted((root.parent / "raw-samples").rglob("*")):
        if path.is_file() and ("mask" in path.name.lower() or "Mask" in str(path.parent) or "masks" in path.parts):
            shutil.copy(path, folder / f"{path.parent.name.replace(' ', '_')}-{path.name}")


def test_files(folder):
    from acregnet_cli.applications.segmentation import load_dataset_fold

    for dataset in ("jsrt", "montgomery", "shenzhen"):
        _, names, images, _ = load_dataset_fold(f"{dataset}:test")
        for name, image in zip(names, images):
            big = Image.fromarray(np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)).resize((1024, 1024),
                                                                                                  Image.BICUBIC)
            big.save(folder / f"{dataset}-{name}.png")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--min-agreement", default="0.9",
                        help="corpus --min-agreement (0: the gate off; 'none': not passed, for code older than it)")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)
    root = Path(os.environ["ACREGNET_DATA"])
    rows = []
    print("| folder | files | refused (not-chest) | segmented | accepted at 0.92 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as scratch:
        for kind, make in (("frontal-raw", lambda f: raw_files(f, root)), ("frontal-test", test_files),
                           ("other", other_files), ("masks", lambda f: mask_files(f, root)),
                           ("other-unseen", unseen_files)):
            folder = Path(scratch) / kind
            folder.mkdir()
            make(folder)
            subprocess.run([sys.executable, "-m", "acregnet_cli.cli", "corpus", str(folder), "-o",
                            str(Path(scratch) / f"{kind}-out"), "--json"]
                           + (["--min-agreement", args.min_agreement] if args.min_agreement != "none" else []), check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, cwd=scratch)  # not the checkout: PYTHONPATH picks the code
            table = pd.read_csv(Path(scratch) / f"{kind}-out" / "corpus.csv")
            table.insert(0, "folder", kind)
            if "view" not in table:  # code older than the column
                table["view"] = ""
            rows.append(table[["folder", "image", "status", "view", "reason", "atlas_ncc", "atlas_agreement",
                               "estimated_dice", "accepted"]])
            refused = int((table.status == "not-chest").sum())
            print(f"| {kind} | {len(table)} | {refused} ({100 * refused / len(table):.1f}%) | "
                  f"{int((table.status == 'ok').sum())} | {int(table.accepted.fillna(False).astype(bool).sum())} |")
    pd.concat(rows).to_csv(args.output, index=False)


if __name__ == "__main__":
    main()
