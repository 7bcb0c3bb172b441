"""How far do models move the anatomy? Length of the network-size displacement field.

For the paper's test pairs (seed 0, 256x256 images, the network at its own size) each
model's predicted displacement (a velocity model's after its integration) is measured
per pair: the mean length over the field and its 99th percentile, in network pixels.
Prints a Markdown table and, with ``-o``, writes it (atomically).

    python experiments/displacement_reach.py shenzhen data/models/shenzhen-paper \\
        experiments/shenzhen/runs/shenzhen-ac-regnet-svf7 -o experiments/shenzhen/diffeomorphic/reach.md
"""

import argparse
import sys
from pathlib import Path

import numpy as np

from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
from acregnet_cli.datasets.layout import load_split
from acregnet_cli.evaluation import EVALUATION_SIZE, draw_pairs
from acregnet_cli.io.atomic import write_text_atomic
from acregnet_cli.options import RegistrationOptions
from acregnet_cli.registration import make_registrar


def displacement_lengths(dataset, model, data_dir=None, seed=0):
    """(mean length, 99th percentile) per test pair of ``model``'s network-size field; (P, 2)."""
    registrar = make_registrar(model, RegistrationOptions(engine="numpy"))
    split = load_split(load_dataset_config(dataset), resolve_data_root(data_dir), "test", EVALUATION_SIZE)
    moving, fixed = draw_pairs(len(split), seed)
    rows = []
    for m, f in zip(moving, fixed):
        prepared = registrar.prepare(split.images[m], split.images[f], split.labels[m])
        field = registrar.predict_small(prepared["moving_small"][None], prepared["fixed_small"][None])[0]
        length = np.hypot(field[..., 0], field[..., 1])
        rows.append((length.mean(), np.percentile(length, 99)))
    return np.array(rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("models", nargs="+", help="model folders (bundled model: data/models/NAME)")
    parser.add_argument("--data-dir")
    parser.add_argument("-o", "--output", type=Path)
    args = parser.parse_args(argv)
    lines = [f"## {args.dataset}: displacement length at network size, test pairs (seed 0)", "",
             "| model | mean length (px) | 99th percentile (px) |", "| --- | ---: | ---: |"]
    for model in args.models:
        lengths = displacement_lengths(args.dataset, model, args.data_dir)
        lines.append(f"| {model} | {lengths[:, 0].mean():.2f} | {lengths[:, 1].mean():.2f} |")
    lines += ["", "`python experiments/displacement_reach.py " + " ".join(sys.argv[1:] if argv is None else argv) + "`"]
    text = "\n".join(lines) + "\n"
    if args.output:
        write_text_atomic(args.output, text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
