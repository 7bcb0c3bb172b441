"""Does the paper's ordering AC-RegNet > AE-RegNet > CE-RegNet > RegNet hold?

Reads an ``acregnet evaluate`` output folder (summary.csv and wilcoxon.csv) and, for
each adjacent pair of the ordering among the variants it holds, per metric, says
whether the better-ranked variant has the better mean (higher DSC, lower HD and
ASSD) and whether the paired Wilcoxon test is significant after the folder's own
Bonferroni correction. Writes ``ordering.md`` in the folder and prints it.

    python experiments/ordering.py experiments/jsrt/evaluation [--alpha 0.05]
"""

import argparse
import csv
from pathlib import Path

from acregnet_cli.metrics import HIGHER_IS_BETTER

ORDER = ["ac-regnet", "ae-regnet", "ce-regnet", "regnet"]


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def ordering_table(folder, alpha=0.05):
    """Rows (better, worse, metric, better mean, worse mean, Bonferroni p, holds)."""
    means = {row["method"]: row for row in read_rows(folder / "summary.csv")}
    tests = {}
    for row in read_rows(folder / "wilcoxon.csv"):
        tests[(row["metric"], row["method_a"], row["method_b"])] = float(row["p_bonferroni"])
        tests[(row["metric"], row["method_b"], row["method_a"])] = float(row["p_bonferroni"])
    present = [name for name in ORDER if name in means]
    rows = []
    for better, worse in zip(present, present[1:]):
        for metric, higher in HIGHER_IS_BETTER.items():
            a, b = float(means[better][f"{metric}_mean"]), float(means[worse][f"{metric}_mean"])
            p = tests[(metric, better, worse)]
            ordered = a > b if higher else a < b
            rows.append((better, worse, metric, a, b, p, ordered and p < alpha))
    return present, rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="acregnet evaluate output folder")
    parser.add_argument("--alpha", type=float, default=0.05)
    args = parser.parse_args()
    present, rows = ordering_table(args.folder, args.alpha)
    missing = [name for name in ORDER if name not in present]
    lines = [f"# Paper's ordering in {args.folder}", "",
             f"Variants evaluated: {', '.join(present) or 'none'}"
             + (f"; not evaluated: {', '.join(missing)}" if missing else ""), "",
             f"Holds: the better-ranked variant has the better mean and Bonferroni p < {args.alpha}.", "",
             "| better | worse | metric | mean (better) | mean (worse) | p (Bonferroni) | holds |",
             "| --- | --- | --- | ---: | ---: | ---: | --- |"]
    lines += [f"| {a} | {b} | {m.upper()} | {x:.4g} | {y:.4g} | {p:.3g} | {'yes' if ok else 'no'} |"
              for a, b, m, x, y, p, ok in rows]
    text = "\n".join(lines) + "\n"
    (args.folder / "ordering.md").write_text(text)
    print(text, end="")


if __name__ == "__main__":
    main()
