"""The table of experiments/qc-real-world/README.md from signals.csv: for each quality
signal, its Pearson r with the true lungs Dice, its mean bias, and what a threshold on
it accepts; and a linear combination fitted leaving one atlas dataset out.

    python experiments/qc-real-world/summarise.py experiments/qc-real-world/signals.csv
"""

import sys

import numpy as np
import pandas as pd

SIGNALS = ("estimated_dice", "rca_lungs", "rca_mean", "rca_max", "atlas_agreement", "best_ncc", "lung_contrast",
           "ring_brighter")


def left_out_fit(table, columns):
    """Predictions of the true Dice by least squares on ``columns``, each atlas dataset's
    rows predicted by a fit on the others'."""
    predictions = np.zeros(len(table))
    for atlases in table.atlases.unique():
        train = (table.atlases != atlases).to_numpy()
        design = np.c_[np.ones(train.sum()), table.loc[train, columns].to_numpy()]
        weights = np.linalg.lstsq(design, table.loc[train, "true_lungs"].to_numpy(), rcond=None)[0]
        predictions[~train] = np.c_[np.ones((~train).sum()), table.loc[~train, columns].to_numpy()] @ weights
    return predictions


def main(path):
    table = pd.read_csv(path)
    table = table[table.status == "ok"].reset_index(drop=True)
    truth = table.true_lungs.to_numpy()
    print(f"{len(table)} masks; true lungs Dice mean {truth.mean():.4f}, sd {truth.std():.4f}, "
          f"{(truth < 0.9).sum()} below 0.90, {(truth < 0.85).sum()} below 0.85\n")
    print("| signal | Pearson r with true Dice | mean bias | accepted at 0.92 | accepted with true Dice < 0.85 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    rows = [(name, table[name].to_numpy()) for name in SIGNALS]
    rows += [("fit: rca_lungs + atlas_agreement (leave one atlas set out)",
              left_out_fit(table, ["rca_lungs", "atlas_agreement"]))]
    for name, values in rows:
        accepted = values >= 0.92
        print(f"| {name} | {np.corrcoef(values, truth)[0, 1]:.3f} | {np.mean(values - truth):+.4f} | "
              f"{accepted.sum()} | {(accepted & (truth < 0.85)).sum()} |")


if __name__ == "__main__":
    main(sys.argv[1])
