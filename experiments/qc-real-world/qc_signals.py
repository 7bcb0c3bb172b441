"""How well each quality signal of ``acregnet corpus`` tracks the true Dice on images
unlike the atlases: other hospitals (atlases of one dataset, images of another) and
hospital-like framings (rotations, crops, zooms, padding, bands, stretch).

For every (atlas dataset, image dataset) pair of JSRT, Montgomery and Shenzhen with
different datasets, the first COUNT test images of the image dataset, each as the
variants of ``experiments/real-world/variants.py``, are segmented by the corpus
pipeline (the bundled default model, k = 5, 10 references = the atlases); each mask's
lungs are scored against the manual mask (both lungs as one: what every dataset has).

    python experiments/qc-real-world/qc_signals.py --count 20 -o experiments/qc-real-world/signals.csv

One row per image: the signals (``estimated_dice``, the lung classes' best-reference
Dice ``rca_lungs``, ``rca_mean``, ``rca_max``, ``atlas_agreement``, the best atlas NCC)
and ``true_lungs``.
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "real-world"))
from variants import _resize, dice, make_variant  # noqa: E402

VARIANTS = ("original", "rotate-10", "zoom-1.25", "crop-8", "pad-25", "band-below", "aspect-1.33")
DATASETS = ("jsrt", "montgomery", "shenzhen")
LUNGS = {"jsrt": (1, 2), "montgomery": (255,), "shenzhen": (255,)}


def edge_fit(image, lungs):
    """How the lung mask sits on its own image: lungs are darker than what surrounds them.
    The contrast between a ring just outside the mask and a ring just inside, over the
    image's spread (``lung_contrast``), and the share of the outer ring brighter than the
    inner ring's median (``ring_brighter``)."""
    from scipy import ndimage

    width = max(2, int(round(0.02 * max(image.shape))))
    inner = lungs & ~ndimage.binary_erosion(lungs, iterations=width)
    outer = ndimage.binary_dilation(lungs, iterations=width) & ~lungs
    spread = np.percentile(image, 99) - np.percentile(image, 1) or 1.0
    if not inner.any() or not outer.any():
        return {"lung_contrast": 0.0, "ring_brighter": 0.0}
    return {"lung_contrast": float((np.median(image[outer]) - np.median(image[inner])) / spread),
            "ring_brighter": float(np.mean(image[outer] > np.median(image[inner])))}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20)
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)

    import pandas as pd

    from acregnet_cli.applications.corpus import CorpusPipeline
    from acregnet_cli.applications.segmentation import load_atlases, load_dataset_fold
    from acregnet_cli.options import RegistrationOptions
    from acregnet_cli.registration import make_registrar
    from acregnet_cli.workflows import corpus as corpus_flow

    registrar = make_registrar(None, RegistrationOptions().replace(engine="tensorflow", batch_size=40),
                               keep_onehot=False)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for atlas_set in DATASETS:
            atlases, _ = load_atlases(f"{atlas_set}:train")
            pipeline = CorpusPipeline(atlases, atlases, registrar, k=5, max_references=10)
            atlas_lungs = [str(v) for v in LUNGS[atlas_set]]
            for image_set in DATASETS:
                if image_set == atlas_set:
                    continue
                _, names, images, labels = load_dataset_fold(f"{image_set}:test")
                for variant in args.variants.split(","):
                    folder = Path(scratch) / f"{atlas_set}-{image_set}-{variant}"
                    folder.mkdir()
                    truths = {}
                    for name, image, label in list(zip(names, images, labels))[:args.count]:
                        eight = np.clip(np.rint(_resize(image.astype(np.float64), (args.side, args.side), 1) * 255),
                                        0, 255).astype(np.uint8)
                        stored, truth = make_variant(variant, eight, _resize(np.asarray(label), (args.side,) * 2, 0))
                        Image.fromarray(stored).save(folder / f"{name}.png")
                        truths[name] = np.isin(truth, LUNGS[image_set])
                    out = Path(scratch) / "out"
                    began = time.perf_counter()
                    corpus_flow.run_corpus(folder, out, pipeline)
                    seconds = time.perf_counter() - began
                    table = pd.read_csv(out / "corpus.csv")
                    for _, row in table.iterrows():
                        name = Path(row["image"]).stem
                        if row["status"] != "ok":
                            rows.append({"atlases": atlas_set, "images": image_set, "variant": variant, "image": name,
                                         "status": row["status"]})
                            continue
                        mask = np.asarray(Image.open(out / row["mask"]))
                        lungs = np.isin(mask, LUNGS[atlas_set])
                        picture = np.asarray(Image.open(folder / row["image"]), np.float64)
                        rows.append({
                            "atlases": atlas_set, "images": image_set, "variant": variant, "image": name,
                            "status": "ok", "estimated_dice": row["estimated_dice"],
                            "rca_lungs": float(np.mean([row[f"dice_{v}"] for v in atlas_lungs])),
                            "rca_mean": row["rca_mean"], "rca_max": row["rca_max"],
                            "atlas_agreement": row["atlas_agreement"],
                            "best_ncc": float(str(row["atlas_ncc"]).split()[0]),
                            "true_lungs": dice(lungs, truths[name]), "seconds": seconds / len(table),
                            **edge_fit(picture, lungs)})
                    shutil.rmtree(out)
                    shutil.rmtree(folder)
                    done = [r for r in rows if r.get("true_lungs") is not None and r["variant"] == variant
                            and r["atlases"] == atlas_set and r["images"] == image_set]
                    print(f"{atlas_set} -> {image_set} {variant}: true {np.mean([r['true_lungs'] for r in done]):.4f}"
                          f", estimated {np.mean([r['estimated_dice'] for r in done]):.4f}", file=sys.stderr,
                          flush=True)
    pd.DataFrame(rows).to_csv(args.output, index=False, float_format="%.5f")


if __name__ == "__main__":
    main()
