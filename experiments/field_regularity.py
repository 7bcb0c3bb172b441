"""How regular are the fields a model predicts on a dataset's test pairs?

For each ``--method NAME=MODEL[,passes=P]`` (as ``acregnet evaluate`` takes them), registers
the paper's test pairs (seed 0, 256x256) and measures, on each pair's 256x256 field, the
Jacobian determinant of ``p -> p + u(p)``: the share of pixels where it is <= 0 (folding),
how many of the folded pixels lie inside the fixed image's mask (any structure), its
minimum and its standard deviation. Writes ``regularity.csv`` (one row per pair and method)
and ``regularity.md`` (per method: mean and largest folding share, pairs with any folding,
share of all folded pixels inside the fixed masks, median and worst minimum determinant,
mean standard deviation) in the output folder.

    python experiments/field_regularity.py montgomery --method ac-regnet=montgomery \\
        --method ac-regnet-svf7=experiments/montgomery/runs/montgomery-ac-regnet-svf7 \\
        -o experiments/montgomery/field-regularity
"""

import argparse
import sys
from pathlib import Path

import pandas as pd

from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
from acregnet_cli.datasets.layout import load_split
from acregnet_cli.errors import InputError
from acregnet_cli.evaluation import EVALUATION_SIZE, draw_pairs, parse_methods
from acregnet_cli.fields import jacobian_determinant
from acregnet_cli.io.atomic import write_text_atomic
from acregnet_cli.options import RegistrationOptions
from acregnet_cli.registration import make_registrar


def field_regularity(dataset, methods, data_dir=None, seed=0, batch_size=32):
    """Per-pair Jacobian statistics of each model method's fields; a DataFrame."""
    config = load_dataset_config(dataset)
    split = load_split(config, resolve_data_root(data_dir), "test", EVALUATION_SIZE)
    moving, fixed = draw_pairs(len(split), seed)
    rows = []
    for method in parse_methods(methods):
        if method.kind != "model":
            raise InputError(f"--method {method.name}: only trained models have a field to measure")
        registrar = make_registrar(method.path, RegistrationOptions(engine="tensorflow", batch_size=batch_size,
                                                               passes=method.passes))
        results = registrar.register_many([(split.images[m], split.images[f], None) for m, f in zip(moving, fixed)])
        for pair, (m, f, result) in enumerate(zip(moving, fixed, results)):
            determinant = jacobian_determinant(result.field)
            folded = determinant <= 0
            rows.append({"method": method.name, "pair": pair, "moving": split.names[m], "fixed": split.names[f],
                         "folding": float(folded.mean()), "folded_pixels": int(folded.sum()),
                         "folded_in_mask": int((folded & (split.labels[f] > 0)).sum()),
                         "min_det": float(determinant.min()), "std_det": float(determinant.std())})
    return pd.DataFrame(rows)


def summary_table(table):
    """Markdown table of the per-method statistics of :func:`field_regularity`'s rows."""
    lines = ["| method | folding % (mean) | folding % (largest) | pairs with folding | folded in mask % "
             "| min det (median) | min det (worst) | std det (mean) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, rows in table.groupby("method", sort=False):
        folded = rows.folded_pixels.sum()
        in_mask = f"{100 * rows.folded_in_mask.sum() / folded:.1f}" if folded else "-"
        lines.append(f"| {name} | {100 * rows.folding.mean():.4f} | {100 * rows.folding.max():.4f} "
                     f"| {int((rows.folding > 0).sum())} / {len(rows)} | {in_mask} | {rows.min_det.median():.3f} "
                     f"| {rows.min_det.min():.3f} | {rows.std_det.mean():.3f} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="dataset name or TOML file")
    parser.add_argument("--method", action="append", default=[], help="NAME=MODEL[,passes=P]")
    parser.add_argument("--data-dir", help="data root (default: $ACREGNET_DATA)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        table = field_regularity(args.dataset, args.method, args.data_dir)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.output / "regularity.csv", table.to_csv(index=False, float_format="%.6g"))
    command = "python experiments/field_regularity.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = (f"## {args.dataset}: Jacobian determinant of the 256x256 fields, {table.pair.nunique()} test pairs "
            f"(seed 0)\n\n{summary_table(table)}\n`{command}`\n")
    write_text_atomic(args.output / "regularity.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
