"""The variant study's tables: before (former reading) against after (defaults), per dataset.

    python experiments/real-world/tables.py > experiments/real-world/variants/tables.md

Reads ``variants/DATASET-before.csv`` and ``variants/DATASET-after.csv`` (written by
``variants.py``); a variant is within the goal when its mean lungs Dice is within 0.01 of
the unperturbed images' in the same run.
"""

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent / "variants"


def means(path):
    frame = pd.read_csv(path)
    columns = [c for c in ("lungs", "heart") if c in frame]
    return frame.groupby("variant", sort=False)[columns].mean(), frame


def cell(row, original, structure):
    return f"{row[structure]:.4f} ({row[structure] - original[structure]:+.4f})"


def main():
    for dataset in ("jsrt", "montgomery", "shenzhen"):
        if not (HERE / f"{dataset}-after.csv").exists():
            continue
        after, frame = means(HERE / f"{dataset}-after.csv")
        before = means(HERE / f"{dataset}-before.csv")[0] if (HERE / f"{dataset}-before.csv").exists() else None
        structures = list(after.columns)
        print(f"### {dataset} ({frame['image'].nunique()} test images at 1024 px)\n")
        header = ["variant"]
        for structure in structures:
            header += [f"{structure} before", f"{structure} after"]
        header += ["aligned (after)", "lungs within 0.01"]
        print("| " + " | ".join(header) + " |")
        print("| " + " | ".join("---" for _ in header) + " |")
        aligned = frame.groupby("variant", sort=False)["aligned"].mean() if "aligned" in frame else None
        for variant, row in after.iterrows():
            cells = [variant]
            for structure in structures:
                if before is not None and variant in before.index:
                    cells.append(cell(before.loc[variant], before.loc["original"], structure))
                else:
                    cells.append("")
                cells.append(cell(row, after.loc["original"], structure))
            cells.append(f"{aligned[variant]:.0%}" if aligned is not None else "")
            cells.append("yes" if abs(row["lungs"] - after.loc["original", "lungs"]) <= 0.01 else "**no**")
            print("| " + " | ".join(cells) + " |")
        print()


if __name__ == "__main__":
    main()
