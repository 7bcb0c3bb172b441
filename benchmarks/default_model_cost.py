"""What the default models cost against the paper-faithful ones (issue 27's limit: at
most 3x per pair in batch, and one pair still fast as a whole process).

For each dataset, on its 256x256 test images (``ACREGNET_DATA``), side by side in one
run and interleaved (paper, default, paper, ...) so that drift of the machine's speed
falls on both:

- batch: ``acregnet register --pairs`` of ``--pairs`` pairs (masks warped, files
  written), whole process, and seconds per pair;
- one pair: ``acregnet register MOVING FIXED --mask M``, whole process.

Medians of ``--repeats`` runs; writes ``benchmarks/results/default-model-cost-<label>.md``.

usage: python benchmarks/default_model_cost.py [--label NAME] [--pairs 200] [--repeats 3] [DATASET...]
"""

import argparse
import csv
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run_benchmarks import ACREGNET, machine_description, run_process

HERE = Path(__file__).resolve().parent


def test_pairs(dataset, count):
    """``count`` (moving, fixed, moving mask) paths of the dataset's test images, in a fixed order."""
    from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
    from acregnet_cli.datasets.layout import read_split_list, split_list_path

    config = load_dataset_config(dataset)
    root = resolve_data_root(None)
    images = read_split_list(split_list_path(config, root, "test", "images", 256), root)
    labels = read_split_list(split_list_path(config, root, "test", "labels", 256), root)
    pairs = []
    for step in range(1, len(images)):
        for i in range(len(images)):
            if len(pairs) == count:
                return pairs
            pairs.append((images[i], images[(i + step) % len(images)], labels[i]))
    return pairs


def measure(dataset, models, count, repeats):
    pairs = test_pairs(dataset, count)
    rows = {model: {"batch": [], "one": []} for model in models}
    with tempfile.TemporaryDirectory() as tmp:
        listing = Path(tmp) / "pairs.csv"
        with listing.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["moving", "fixed", "moving_mask"])
            writer.writerows([[str(p) for p in pair] for pair in pairs])
        for repeat in range(repeats + 1):  # the first round warms the caches and is dropped
            for model in models:
                out = Path(tmp) / f"{model}-{repeat}"
                batch, _, _ = run_process([*ACREGNET, "register", "--pairs", str(listing), "--model", model,
                                           "-o", str(out / "batch")])
                moving, fixed, mask = pairs[0]
                one, _, _ = run_process([*ACREGNET, "register", str(moving), str(fixed), "--mask", str(mask),
                                         "--model", model, "-o", str(out / "one")])
                if repeat:
                    rows[model]["batch"].append(batch)
                    rows[model]["one"].append(one)
    return {model: {key: statistics.median(values) for key, values in row.items()} for model, row in rows.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", nargs="*", default=["jsrt", "montgomery", "shenzhen"])
    parser.add_argument("--label", default="cpu")
    parser.add_argument("--pairs", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from acregnet_cli.models import load_model

    lines = [f"# Default models against the paper-faithful ones: cost ({args.label})", "",
             "Machine: " + ", ".join(f"{k} {v}" for k, v in machine_description().items()), "",
             (f"Medians of {args.repeats} interleaved runs; batch: `register --pairs` of {args.pairs} "
              "256x256 test pairs with masks, whole process; one pair: `register MOVING FIXED --mask`, "
              "whole process."), "",
             "| dataset | model | passes | batch (s) | per pair in batch (ms) | ratio | one pair (s) | ratio |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for dataset in args.datasets:
        models = [f"{dataset}-paper", dataset]
        result = measure(dataset, models, args.pairs, args.repeats)
        base = result[models[0]]
        for model in models:
            r = result[model]
            lines.append(f"| {dataset} | {model} | {load_model(model).passes} | {r['batch']:.2f} | "
                         f"{1000 * r['batch'] / args.pairs:.1f} | {r['batch'] / base['batch']:.2f} | "
                         f"{r['one']:.2f} | {r['one'] / base['one']:.2f} |")
        print(lines[-2], lines[-1], sep="\n", flush=True)
    out = HERE / "results" / f"default-model-cost-{args.label}.md"
    out.write_text("\n".join(lines) + "\n")
    print(out)


if __name__ == "__main__":
    main()
