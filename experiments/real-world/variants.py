"""Intensity and framing variants of the datasets' test radiographs, through ``acregnet corpus``.

Each test image of a dataset (with its manual mask) is brought to SIDE pixels and
rewritten as a hospital export might hold it: other bit depths and windows, dark or
flat 8-bit, inverted; padded, letterboxed, cropped, rotated, zoomed, stretched, with
burned-in text. Every variant folder is segmented by the corpus pipeline as a user
runs it (files in, masks out, leave-test-out atlases ``DATASET:train``), and each
mask is scored against the manual mask carried through the same change.

    python experiments/real-world/variants.py jsrt --count 25 -o experiments/real-world/variants/jsrt
    python experiments/real-world/variants.py jsrt --intensity dtype --framing none -o /tmp/before

Writes ``scores.csv`` (one row per image and variant) and ``summary.md`` (mean Dice
per variant and structure, and its difference from the unperturbed images).
"""

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

VARIANTS = ("original", "12-bit", "14-bit", "uint16-window", "dark-8bit", "low-contrast-8bit", "inverted",
            "pad-25", "band-below", "crop-8", "rotate-10", "zoom-0.8-grey", "zoom-1.25", "aspect-0.75",
            "aspect-1.33", "text-marker")


def _resize(array, shape, order):
    zoom = (shape[0] / array.shape[0], shape[1] / array.shape[1])
    return ndimage.zoom(array, zoom, order=order, mode="nearest", grid_mode=True)


def _place(image, labels, canvas_shape, top, left, fill):
    out = np.full(canvas_shape, fill, image.dtype)
    out_labels = np.zeros(canvas_shape, labels.dtype)
    out[top:top + image.shape[0], left:left + image.shape[1]] = image
    out_labels[top:top + image.shape[0], left:left + image.shape[1]] = labels
    return out, out_labels


def make_variant(name, image, labels):
    """(stored array, labels) of variant ``name`` of an 8-bit ``image`` and its ``labels``."""
    side = image.shape[0]
    value = image.astype(np.float64)
    if name == "original":
        return image, labels
    if name == "12-bit":
        return np.rint(value * 4095 / 255).astype(np.uint16), labels
    if name == "14-bit":
        return np.rint(value * 16383 / 255).astype(np.uint16), labels
    if name == "uint16-window":
        return np.rint(20000 + value * 20000 / 255).astype(np.uint16), labels
    if name == "dark-8bit":
        return (image // 4).astype(np.uint8), labels
    if name == "low-contrast-8bit":
        return np.rint(96 + value * 64 / 255).astype(np.uint8), labels
    if name == "inverted":
        return (255 - image).astype(np.uint8), labels
    if name == "pad-25":
        pad = side // 4
        return _place(image, labels, (side + 2 * pad, side + 2 * pad), pad, pad, 0)
    if name == "band-below":
        return _place(image, labels, (int(round(side * 4 / 3)), side), 0, 0, 0)
    if name == "crop-8":
        cut = int(round(0.08 * side))
        return image[cut:side - cut, cut:side - cut], labels[cut:side - cut, cut:side - cut]
    if name == "rotate-10":
        rotated = ndimage.rotate(value, 10, reshape=False, order=1, mode="constant", cval=0)
        return np.clip(np.rint(rotated), 0, 255).astype(np.uint8), ndimage.rotate(labels, 10, reshape=False, order=0)
    if name == "zoom-0.8-grey":
        small = int(round(0.8 * side))
        offset = (side - small) // 2
        return _place(np.clip(np.rint(_resize(value, (small, small), 1)), 0, 255).astype(np.uint8),
                      _resize(labels, (small, small), 0), (side, side), offset, offset, 128)
    if name == "zoom-1.25":
        big = int(round(1.25 * side))
        offset = (big - side) // 2
        enlarged = np.clip(np.rint(_resize(value, (big, big), 1)), 0, 255).astype(np.uint8)
        return (enlarged[offset:offset + side, offset:offset + side],
                _resize(labels, (big, big), 0)[offset:offset + side, offset:offset + side])
    if name.startswith("aspect-"):
        width = int(round(side * float(name.split("-")[1])))
        return (np.clip(np.rint(_resize(value, (side, width), 1)), 0, 255).astype(np.uint8),
                _resize(labels, (side, width), 0))
    if name == "text-marker":
        picture = Image.fromarray(image)
        draw = ImageDraw.Draw(picture)
        scale = side / 1024
        for row, text in enumerate(["PORTABLE AP  12/03/2026 07:41", "ID 0041237  SUPINE"]):
            draw.text((int(20 * scale), int((20 + 28 * row) * scale)), text, fill=255,
                      font_size=max(8, int(24 * scale)))
        box = [int(side * 0.86), int(side * 0.10), int(side * 0.94), int(side * 0.18)]
        draw.rectangle(box, fill=255)
        draw.text((box[0] + int(10 * scale), box[1] + int(4 * scale)), "R", fill=0, font_size=max(8, int(50 * scale)))
        return np.asarray(picture), labels
    raise ValueError(f"unknown variant {name}")


def dice(a, b):
    total = a.sum() + b.sum()
    return float(2 * (a & b).sum() / total) if total else 1.0


def structures(dataset):
    if dataset == "jsrt":
        return {"lungs": (1, 2), "heart": (3,)}
    return {"lungs": (255,)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["jsrt", "montgomery", "shenzhen"])
    parser.add_argument("--count", type=int, default=25, help="test images (the first of the test fold)")
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--intensity", default="auto", help="passed to the corpus reader (auto, dtype)")
    parser.add_argument("--framing", default=None, help="passed to corpus --framing where the build has it")
    parser.add_argument("--model", default=None)
    parser.add_argument("--prealign", default=None, help="similarity or affine: a global fit before the network")
    parser.add_argument("-o", "--output", required=True)
    args = parser.parse_args(argv)

    import pandas as pd

    from acregnet_cli.applications.corpus import CorpusPipeline
    from acregnet_cli.applications.segmentation import load_atlases, load_dataset_fold
    from acregnet_cli.options import RegistrationOptions
    from acregnet_cli.registration import make_registrar
    from acregnet_cli.workflows import corpus as corpus_flow

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    _, names, images, labels = load_dataset_fold(f"{args.dataset}:test")
    names, images, labels = names[:args.count], images[:args.count], labels[:args.count]
    atlases, _ = load_atlases(f"{args.dataset}:train")
    options = RegistrationOptions(prealign=args.prealign).replace(engine="tensorflow", batch_size=40)
    registrar = make_registrar(args.model or args.dataset, options, keep_onehot=False)
    pipeline_args = {}
    if args.framing is not None:
        pipeline_args["framing"] = args.framing
    pipeline = CorpusPipeline(atlases, atlases, registrar, k=5, max_references=10, **pipeline_args)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for variant in args.variants.split(","):
            folder = Path(scratch) / variant
            folder.mkdir()
            truths = {}
            for name, image, label in zip(names, images, labels):
                eight = np.clip(np.rint(_resize(image.astype(np.float64), (args.side, args.side), 1) * 255), 0,
                                255).astype(np.uint8)
                big_labels = _resize(np.asarray(label), (args.side, args.side), 0)
                stored, truth = make_variant(variant, eight, big_labels)
                Image.fromarray(stored).save(folder / f"{name}.png")
                truths[name] = truth
            out = Path(scratch) / f"{variant}-out"
            began = time.perf_counter()
            corpus_flow.run_corpus(folder, out, pipeline, intensity=args.intensity) \
                if "intensity" in corpus_flow.run_corpus.__code__.co_varnames \
                else corpus_flow.run_corpus(folder, out, pipeline)
            seconds = time.perf_counter() - began
            table = pd.read_csv(out / "corpus.csv")
            for _, row in table.iterrows():
                name = Path(row["image"]).stem
                truth = truths[name]
                record = {"variant": variant, "image": name, "status": row["status"],
                          "estimated_dice": row.get("estimated_dice"), "seconds": seconds / len(table),
                          "aligned": row.get("aligned"), "global_reach": row.get("global_reach")}
                mask = np.asarray(Image.open(out / row["mask"])) if isinstance(row["mask"], str) and row["mask"] \
                    else np.zeros_like(truth)
                record["mask_shape_ok"] = mask.shape == truth.shape
                if mask.shape != truth.shape:
                    mask = _resize(mask, truth.shape, 0)
                for structure, values in structures(args.dataset).items():
                    record[structure] = dice(np.isin(mask, values), np.isin(truth, values))
                rows.append(record)
            shutil.rmtree(out)
            print(f"{variant}: " + ", ".join(f"{s} {np.mean([r[s] for r in rows if r['variant'] == variant]):.4f}"
                                            for s in structures(args.dataset)), file=sys.stderr, flush=True)
    frame = pd.DataFrame(rows)
    frame.to_csv(output / "scores.csv", index=False)
    means = frame.groupby("variant", sort=False)[list(structures(args.dataset)) + ["estimated_dice"]].mean()
    lines = [f"# {args.dataset}: {args.count} test images at {args.side} px, intensity {args.intensity}, "
             f"framing {args.framing or 'default'}, prealign {args.prealign or 'none'}", "",
             f"Mean seconds per image (whole corpus run, 2-core CPU): {frame['seconds'].mean():.3f}", "",
             "| variant | " + " | ".join(f"{s} Dice | vs original" for s in structures(args.dataset))
             + " | estimated Dice | masks at image size |",
             "| --- " * (2 * len(structures(args.dataset)) + 3) + "|"]
    for variant, row in means.iterrows():
        cells = []
        for structure in structures(args.dataset):
            delta = row[structure] - means.loc["original", structure] if "original" in means.index else float("nan")
            cells += [f"{row[structure]:.4f}", f"{delta:+.4f}"]
        same = frame[frame.variant == variant]["mask_shape_ok"].all()
        lines.append(f"| {variant} | " + " | ".join(cells)
                     + f" | {row['estimated_dice']:.3f} | {'yes' if same else 'no'} |")
    (output / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
