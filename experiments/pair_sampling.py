"""How much does the paper's Table 1 protocol depend on which test pairs it draws?

The protocol (``acregnet evaluate``) scores 2N (moving, fixed) pairs drawn at random,
with replacement, from the N test images, with one seed. The paper drew its pairs with
a seed we do not know, so its means and ours come from different samples of the same
N x N population. This script registers every pair that ``--draws`` draws of the
protocol (seeds 0 .. D-1, :func:`acregnet_cli.evaluation.protocol.draw_pairs`) contain, once per
method, scores each as ``evaluate`` does (class-average DSC, HD, ASSD at 256x256, in the
dataset's unit), and then recomputes the protocol's mean for every draw from that table.
Draw 0 is the published protocol's sample, so its means are those of ``evaluate``.

It writes to the output folder:

- ``pairs.csv``: one row per method and distinct pair (moving, fixed, dsc, hd, assd);
- ``draws.csv``: one row per method and draw (mean and standard deviation over the draw's
  pairs of each metric; pairs with an undefined value left out, as ``evaluate`` does;
  ``worst_moving_pairs``: the draw's pairs whose moving image is the worst one, below);
- ``pair-sampling.md``: per method, the draw-0 mean, the mean and the 2.5-97.5 % range
  of the draw means, and with ``--reference DSC,HD,ASSD`` the share of draws whose mean
  is at least as good as the reference (e.g. the paper's Table 1 row); for each pair of
  methods, the share of draws in which one has the better mean; the moving and the fixed
  images whose pairs have the largest mean Hausdorff distance for the first method; and
  the draw means over the draws that do not have the worst moving image (one unusual
  radiograph can move a draw's mean HD by several millimetres).

    python experiments/pair_sampling.py montgomery --method ac-regnet=data/models/montgomery-paper \\
        --method identity --draws 1000 --reference 0.953,14.963,2.645 \\
        -o experiments/montgomery/pair-sampling
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
from acregnet_cli.datasets.layout import load_split
from acregnet_cli.errors import InputError
from acregnet_cli.evaluation import EVALUATION_SIZE, METRICS, draw_pairs, parse_methods
from acregnet_cli.io.atomic import write_text_atomic
from acregnet_cli.metrics import label_map_metrics
from acregnet_cli.registration import make_registrar

# Larger is better for DSC, smaller for the distances.
BETTER = {"dsc": np.greater_equal, "hd": np.less_equal, "assd": np.less_equal}


def drawn_pairs(n, draws):
    """Moving and fixed index arrays of shape (draws, 2n), one row per seed."""
    rows = [draw_pairs(n, seed) for seed in range(draws)]
    return np.array([m for m, _ in rows]), np.array([f for _, f in rows])


def score_pairs(dataset, method_specs, draws, data_dir=None, batch_size=32):
    """Score every distinct pair of the first ``draws`` draws with every method.

    Returns
    -------
    pairs : DataFrame
        Columns method, moving, fixed (indices into the test split), moving_name,
        fixed_name, dsc, hd, assd.
    moving, fixed : ndarray of int, shape (draws, 2n)
    names : list of str
        The methods, in the order given.
    """
    if draws < 1:
        raise InputError(f"--draws must be at least 1, got {draws}")
    methods = parse_methods(method_specs)
    for method in methods:
        if method.kind == "elastix":
            raise InputError("--method elastix: about 25 s per pair, too slow to register every drawn pair; "
                             "give identity or NAME=RUN")
    config = load_dataset_config(dataset)
    split = load_split(config, resolve_data_root(data_dir), "test", EVALUATION_SIZE)
    spacing = config.spacing(EVALUATION_SIZE)
    moving, fixed = drawn_pairs(len(split), draws)
    distinct = sorted(set(zip(moving.ravel().tolist(), fixed.ravel().tolist())))
    rows = []
    for method in methods:
        if method.kind == "identity":
            warped = ((m, f, split.labels[m]) for m, f in distinct)
        else:
            registrar = make_registrar(method.path, method.options.replace(engine="tensorflow", batch_size=batch_size))
            warped = _register(registrar, split, distinct, batch_size)
        for m, f, mask in warped:
            _, average = label_map_metrics(mask, split.labels[f], config.num_classes, spacing)
            rows.append({"method": method.name, "moving": m, "fixed": f, "moving_name": split.names[m],
                         "fixed_name": split.names[f], **average})
    return pd.DataFrame(rows), moving, fixed, [method.name for method in methods]


def _register(registrar, split, pairs, batch_size):
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        results = registrar.register_many([(split.images[m], split.images[f], split.labels[m]) for m, f in chunk])
        for (m, f), result in zip(chunk, results):
            yield m, f, result.warped_mask


def draw_means(pairs, moving, fixed, names):
    """Mean and standard deviation (ddof 0) of each metric over each draw's pairs, per
    method; pairs with an undefined value are left out, as in ``evaluate``'s summary."""
    n = int(max(moving.max(), fixed.max())) + 1
    rows = []
    for name in names:
        subset = pairs[pairs.method == name]
        for metric in METRICS:
            grid = np.full((n, n), np.nan)
            grid[subset.moving.to_numpy(), subset.fixed.to_numpy()] = subset[metric].to_numpy()
            values = grid[moving, fixed]
            for draw, (mean, std) in enumerate(zip(np.nanmean(values, axis=1), np.nanstd(values, axis=1))):
                rows.append({"draw": draw, "method": name, "metric": metric, "mean": mean, "std": std})
    long = pd.DataFrame(rows)
    wide = long.pivot_table(index=["method", "draw"], columns="metric", values=["mean", "std"])
    wide.columns = [metric if stat == "mean" else f"{metric}_std" for stat, metric in wide.columns]
    wide = wide.reset_index()
    order = {name: i for i, name in enumerate(names)}
    wide = wide.sort_values(["method", "draw"], key=lambda c: c.map(order) if c.name == "method" else c)
    return wide[["method", "draw", *METRICS, *(f"{m}_std" for m in METRICS)]].reset_index(drop=True)


def report(pairs, draws, names, unit, reference=None, worst=5):
    """The Markdown tables of ``pair-sampling.md``."""
    count = draws.draw.nunique()
    header = "| method | metric | draw 0 | mean of draws | 2.5-97.5 % of draws | SD over pairs: draw 0 (range over draws) |"
    if reference is not None:
        header += " draws at least as good as the reference |"
    lines = [header, "|" + " --- |" * (header.count("|") - 1)]
    for name in names:
        rows = draws[draws.method == name]
        for metric in METRICS:
            values = rows[metric].to_numpy()
            spread = rows[f"{metric}_std"].to_numpy()
            low, high = np.percentile(values, [2.5, 97.5])
            digits = 3 if metric == "dsc" else 2
            line = (f"| {name} | {metric.upper()} | {values[0]:.{digits}f} | {values.mean():.{digits}f} | "
                    f"{low:.{digits}f} - {high:.{digits}f} | {spread[0]:.{digits}f} "
                    f"({spread.min():.{digits}f} - {spread.max():.{digits}f}) |")
            if reference is not None:
                target = reference[METRICS.index(metric)]
                line += f" {np.mean(BETTER[metric](values, target)):.1%} (vs {target:g}) |"
            lines.append(line)
    text = [f"Draw means of {count} draws (seeds 0-{count - 1}); distances in {unit}.\n", *lines, ""]
    if len(names) > 1:
        text.append("Share of draws in which the row's method has the better mean (ties count for neither):\n")
        text.append("| row vs column | metric | " + " | ".join(names) + " |")
        text.append("| --- | --- |" + " ---: |" * len(names))
        for a in names:
            for metric in METRICS:
                mine = draws[draws.method == a][metric].to_numpy()
                cells = []
                for b in names:
                    other = draws[draws.method == b][metric].to_numpy()
                    better = mine > other if metric == "dsc" else mine < other
                    cells.append("" if a == b else f"{np.mean(better):.1%}")
                text.append(f"| {a} | {metric.upper()} | " + " | ".join(cells) + " |")
        text.append("")
    first = pairs[pairs.method == names[0]]
    for role in ("moving", "fixed"):
        by_image = image_means(first, role)
        text.append(f"{role.capitalize()} images with the largest mean HD over their pairs ({names[0]}; {unit}):\n")
        text.append(f"| {role} image | mean HD | max HD | pairs |")
        text.append("| --- | ---: | ---: | ---: |")
        for image, row in by_image.head(worst).iterrows():
            text.append(f"| {image} | {row['mean']:.2f} | {row['max']:.2f} | {int(row['size'])} |")
        text.append(f"\nOver {role} images, mean HD from {by_image['mean'].min():.2f} to {by_image['mean'].max():.2f}.\n")
    text.append(f"All {len(first)} distinct pairs ({names[0]}): HD mean {first.hd.mean():.2f}, "
                f"median {first.hd.median():.2f}.\n")
    avoiding = draws[draws.worst_moving_pairs == 0]
    worst_name = image_means(first, "moving").index[0]
    text.append(f"The {avoiding.draw.nunique()} draws ({avoiding.draw.nunique() / count:.1%}) without "
                f"{worst_name} as moving image (draw 0 has it in {_pairs(draws.worst_moving_pairs.iloc[0])}), "
                "mean of their draw means (2.5-97.5 %):\n")
    text.append("| method | DSC | HD | ASSD |")
    text.append("| --- | ---: | ---: | ---: |")
    for name in names if len(avoiding) else []:
        rows = avoiding[avoiding.method == name]
        cells = []
        for metric in METRICS:
            digits = 3 if metric == "dsc" else 2
            low, high = np.percentile(rows[metric], [2.5, 97.5])
            cells.append(f"{rows[metric].mean():.{digits}f} ({low:.{digits}f} - {high:.{digits}f})")
        text.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(text) + "\n"


def _pairs(count):
    return f"{int(count)} pair" + ("" if count == 1 else "s")


def image_means(pairs, role):
    """Mean, maximum and count of HD over the pairs of each ``role`` ('moving' or
    'fixed') image, worst first; indexed by image name."""
    return pairs.groupby(f"{role}_name").hd.agg(["mean", "max", "size"]).sort_values("mean", ascending=False)


def mark_worst_moving(draws, pairs, moving, names):
    """Add ``worst_moving_pairs``: how many of each draw's pairs have, as moving image,
    the one whose pairs have the largest mean HD for the first method."""
    first = pairs[pairs.method == names[0]]
    worst = first[first.moving_name == image_means(first, "moving").index[0]].moving.iloc[0]
    counts = (moving == worst).sum(axis=1)
    return draws.assign(worst_moving_pairs=counts[draws.draw.to_numpy()])


def parse_reference(text):
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 3:
        raise InputError(f"--reference {text!r}: expected three numbers DSC,HD,ASSD")
    return values


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="dataset name or TOML file")
    parser.add_argument("--method", action="append", default=[], help="identity or NAME=MODEL[,passes=P][,outside=edge|background][,prealign=affine|similarity]")
    parser.add_argument("--draws", type=int, default=1000, help="protocol draws (seeds 0 .. D-1)")
    parser.add_argument("--reference", help="DSC,HD,ASSD to compare every draw's mean with (e.g. the paper's)")
    parser.add_argument("--data-dir", help="data root (default: $ACREGNET_DATA)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        reference = parse_reference(args.reference) if args.reference else None
        pairs, moving, fixed, names = score_pairs(args.dataset, args.method, args.draws, args.data_dir)
        unit = load_dataset_config(args.dataset).distance_unit
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    draws = mark_worst_moving(draw_means(pairs, moving, fixed, names), pairs, moving, names)
    args.output.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.output / "pairs.csv", pairs.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(args.output / "draws.csv", draws.to_csv(index=False, float_format="%.6g"))
    command = "python experiments/pair_sampling.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = (f"## {args.dataset}: the protocol's means over {args.draws} draws of {moving.shape[1]} test pairs "
            f"({pairs[pairs.method == names[0]].shape[0]} distinct pairs registered per method)\n\n"
            f"{report(pairs, draws, names, unit, reference)}\n`{command}`\n")
    write_text_atomic(args.output / "pair-sampling.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
