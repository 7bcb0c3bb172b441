"""How far does a result move between two trainings that differ only in their seed?

Reads an ``acregnet evaluate`` output folder whose methods are registration variants
trained with seed 0 (named ``VARIANT``) and with other seeds (``VARIANT-seedN``), and
writes ``seed-study.md`` in the folder:

- each method's means;
- per variant, how far each other seed lands from seed 0 (difference of means and the
  folder's paired Wilcoxon test, Bonferroni-corrected over the folder's comparisons);
- AC-RegNet against AE-RegNet for each seed both were trained with;
- AC-RegNet against AE-RegNet on the per-pair mean over those seeds (paired Wilcoxon,
  Bonferroni over the three metrics).

    python experiments/seed_study.py experiments/montgomery/seed-study
"""

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from acregnet_cli.evaluation import METRICS, averages, p_value_matrix
from acregnet_cli.io.atomic import write_text_atomic

VARIANTS = ["ac-regnet", "ae-regnet", "ce-regnet", "regnet"]


def parse_method(name):
    """(variant, seed) of a method name ``VARIANT`` or ``VARIANT-seedN``; None otherwise."""
    match = re.fullmatch(r"(.+?)(?:-seed(\d+))?", name)
    variant, seed = match.group(1), int(match.group(2) or 0)
    return (variant, seed) if variant in VARIANTS else None


def seed_study(folder):
    """The study's tables as lists of rows; see the module docstring."""
    wide = averages(pd.read_csv(folder / "pairs.csv"))
    tests = pd.read_csv(folder / "wilcoxon.csv")
    names = list(wide["dsc"].columns)
    p_values = {metric: p_value_matrix(tests, metric, names) for metric in METRICS}
    methods = {}
    for name in names:
        parsed = parse_method(name)
        if parsed:
            methods[parsed] = name
    means = wide.mean()
    method_rows = [(name, *(means[(m, name)] for m in METRICS))
                   for _, name in sorted(methods.items(), key=lambda item: (VARIANTS.index(item[0][0]), item[0][1]))]

    def difference(a, b):
        return [(means[(m, a)] - means[(m, b)], p_values[m].loc[a, b]) for m in METRICS]

    spread_rows = []
    for (variant, seed), name in sorted(methods.items()):
        if seed != 0 and (variant, 0) in methods:
            spread_rows.append((variant, seed, difference(name, methods[(variant, 0)])))
    shared = sorted(seed for variant, seed in methods if variant == "ac-regnet" and ("ae-regnet", seed) in methods)
    ac_ae_rows = [(seed, difference(methods[("ac-regnet", seed)], methods[("ae-regnet", seed)])) for seed in shared]
    pooled = []
    if len(shared) > 1:
        for metric in METRICS:
            ac = np.mean([wide[(metric, methods[("ac-regnet", s)])].to_numpy(float) for s in shared], axis=0)
            ae = np.mean([wide[(metric, methods[("ae-regnet", s)])].to_numpy(float) for s in shared], axis=0)
            p = stats.wilcoxon(ac, ae).pvalue
            pooled.append((metric, ac.mean(), ae.mean(), min(1.0, p * len(METRICS))))
    return method_rows, spread_rows, ac_ae_rows, shared, pooled


def _differences(cells):
    return " | ".join(f"{d:+.4g} (p = {p:.2g})" for d, p in cells)


def render(folder, method_rows, spread_rows, ac_ae_rows, shared, pooled):
    lines = [f"# Training-to-training spread in {folder}", "",
             "Means over the folder's pairs (DSC, HD, ASSD; class averages):", "",
             "| method | DSC | HD | ASSD |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {name} | {dsc:.4f} | {hd:.2f} | {assd:.3f} |" for name, dsc, hd, assd in method_rows]
    lines += ["", "Seed N minus seed 0, same variant (paired Wilcoxon, Bonferroni over the folder's "
              "comparisons):", "", "| variant | seed | DSC | HD | ASSD |", "| --- | --- | ---: | ---: | ---: |"]
    lines += [f"| {variant} | {seed} | {_differences(cells)} |" for variant, seed, cells in spread_rows]
    lines += ["", "AC-RegNet minus AE-RegNet, same seed (paired Wilcoxon, Bonferroni over the "
              "folder's comparisons):", "", "| seed | DSC | HD | ASSD |", "| --- | ---: | ---: | ---: |"]
    lines += [f"| {seed} | {_differences(cells)} |" for seed, cells in ac_ae_rows]
    if pooled:
        lines += ["", f"AC-RegNet against AE-RegNet on each pair's mean over seeds {', '.join(map(str, shared))} "
                  "(paired Wilcoxon, Bonferroni over 3 metrics):", "",
                  "| metric | AC-RegNet | AE-RegNet | p |", "| --- | ---: | ---: | ---: |"]
        lines += [f"| {metric.upper()} | {ac:.4g} | {ae:.4g} | {p:.2g} |" for metric, ac, ae, p in pooled]
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="acregnet evaluate output folder")
    args = parser.parse_args()
    text = render(args.folder, *seed_study(args.folder))
    write_text_atomic(args.folder / "seed-study.md", text)
    print(text, end="")


if __name__ == "__main__":
    main()
