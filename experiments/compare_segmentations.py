"""Compare `acregnet segment` runs of the same targets: means and paired Wilcoxon tests.

Each argument is NAME=FOLDER, a folder written by ``acregnet segment --targets-from``
(its segmentation.csv holds per-target DSC, HD and ASSD averaged over the classes).
Targets are paired by name; the tests are :func:`acregnet_cli.evaluation.protocol.wilcoxon_tests`
(two-sided, Bonferroni over the comparisons of each metric). Writes a Markdown table
to ``--output`` (atomically) and prints it.

    python experiments/compare_segmentations.py none=experiments/montgomery/segment-prealign/none \\
        affine=experiments/montgomery/segment-prealign/affine -o experiments/montgomery/segment-prealign/comparison.md
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from acregnet_cli.evaluation import wilcoxon_tests
from acregnet_cli.io.atomic import write_text_atomic
from acregnet_cli.metrics import HIGHER_IS_BETTER, METRICS


def read_segmentation(folder):
    """Per-target class-averaged metrics of one segment run, indexed by target name."""
    path = Path(folder) / "segmentation.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: not found (run `acregnet segment --targets-from` first)")
    table = pd.read_csv(path)
    missing = [f"{metric}_mean" for metric in METRICS if f"{metric}_mean" not in table.columns]
    if missing:
        raise SystemExit(f"{path}: no column {', '.join(missing)} (targets without reference masks?)")
    return table.set_index("target")[[f"{metric}_mean" for metric in METRICS]]


def compare(runs):
    """Means and tests of ``runs``, a dict name -> per-target table.

    Returns (means DataFrame indexed by name, tests DataFrame, number of shared targets).
    """
    names = list(runs)
    shared = sorted(set.intersection(*(set(table.index) for table in runs.values())))
    if not shared:
        raise SystemExit("the runs have no target in common")
    wide = pd.concat({(metric, name): runs[name].loc[shared, f"{metric}_mean"]
                      for metric in METRICS for name in names}, axis=1)
    means = pd.DataFrame({metric: [float(np.nanmean(wide[(metric, name)])) for name in names]
                          for metric in METRICS}, index=names)
    return means, wilcoxon_tests(wide, names), len(shared)


def render(means, tests, targets):
    lines = [f"Per-target means over {targets} targets (class averages; HD and ASSD in mm where the dataset gives a spacing, else pixels; lower is better).", "",
             "| run | DSC | HD | ASSD |", "| --- | --- | --- | --- |"]
    for name, row in means.iterrows():
        lines.append(f"| {name} | {row['dsc']:.4f} | {row['hd']:.2f} | {row['assd']:.2f} |")
    lines += ["", "Paired Wilcoxon (two-sided), Bonferroni within each metric:", "",
              "| metric | a | b | better mean | p (Bonferroni) |", "| --- | --- | --- | --- | --- |"]
    for row in tests.itertuples():
        a, b = means.loc[row.method_a, row.metric], means.loc[row.method_b, row.metric]
        better = row.method_a if (a > b) == HIGHER_IS_BETTER[row.metric] else row.method_b
        if a == b:
            better = "equal"
        lines.append(f"| {row.metric} | {row.method_a} | {row.method_b} | {better} | {row.p_bonferroni:.3g} |")
    return "\n".join(lines) + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="NAME=FOLDER")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    runs = {}
    for spec in args.runs:
        name, sep, folder = spec.partition("=")
        if not sep or not name or not folder:
            raise SystemExit(f"{spec}: expected NAME=FOLDER")
        if name in runs:
            raise SystemExit(f"{name}: named twice")
        runs[name] = read_segmentation(folder)
    if len(runs) < 2:
        raise SystemExit("give at least two runs to compare")
    text = render(*compare(runs))
    write_text_atomic(args.output, text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
