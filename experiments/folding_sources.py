"""Where do a diffeomorphic model's remaining folds come from?

A model trained with ``--integration-steps N`` predicts a velocity field at network size
(64x64) that N scaling-and-squaring steps integrate into a displacement, which is then
upsampled to the image (256x256). Folds can enter at either stage: too few steps for
the velocity's size, or the upsampling. For the paper's test pairs (seed 0, 256x256)
this script integrates the model's velocity with each of ``--steps`` (0: the velocity
taken as the displacement; more steps than N: a closer approximation of the same
exponential; the trained N is always added) and measures the share of pixels whose
Jacobian determinant is <= 0 on the network-size field and on the upsampled field, and
the displacement's length (network pixels) at the folded pixels against its 99th
percentile over the field (are the folds where the field moves most?). As an
alternative it also upsamples the velocity to the image and integrates it there (2 more
steps for 64 -> 256). The warped masks' Dice (all structures) shows whether a change of
steps changes the registration. Writes ``folding-sources.csv`` (one row per pair and
step count) and ``folding-sources.md`` to the output folder.

    python experiments/folding_sources.py montgomery \\
        --model experiments/montgomery/runs/montgomery-ac-regnet-svf7 --steps 0,5,7,10,14 \\
        -o experiments/montgomery/diffeomorphic/folding-sources/montgomery-ac-regnet-svf7
"""

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
from acregnet_cli.datasets.layout import load_split
from acregnet_cli.errors import InputError
from acregnet_cli.evaluation import EVALUATION_SIZE, draw_pairs
from acregnet_cli.fields import crop, jacobian_determinant
from acregnet_cli.io.atomic import write_text_atomic
from acregnet_cli.metrics import dice
from acregnet_cli.np.ops import integrate_velocity
from acregnet_cli.options import RegistrationOptions
from acregnet_cli.registration import make_registrar


def folding_sources(dataset, model, steps, data_dir=None, seed=0):
    """Per-pair folding at network size and image size for each step count (the trained
    count is always among them); a DataFrame."""
    registrar = make_registrar(model, RegistrationOptions(engine="numpy"))
    trained = registrar.model.integration_steps
    if not trained:
        raise InputError(f"{model}: the model was trained without --integration-steps; "
                         "its output is not a velocity field")
    config = load_dataset_config(dataset)
    split = load_split(config, resolve_data_root(data_dir), "test", EVALUATION_SIZE)
    moving, fixed = draw_pairs(len(split), seed)
    steps = sorted(set(steps) | {trained})
    # The network runs once per pair: its raw output is the velocity every count integrates.
    registrar.model.integration_steps = 0
    rows = []
    for pair, (m, f) in enumerate(zip(moving, fixed)):
        prepared = registrar.prepare(split.images[m], split.images[f], split.labels[m])
        velocity = registrar.predict_small(prepared["moving_small"][None], prepared["fixed_small"][None])
        for count in steps:
            small = integrate_velocity(velocity, count)[0] if count else velocity[0]
            result = registrar.finish_many([prepared], [small], onehot=True)[0]
            at_image = image_size_integration(registrar, prepared, velocity, count) if count else None
            folded = jacobian_determinant(small) <= 0
            length = np.hypot(small[..., 0], small[..., 1])
            rows.append({"steps": count, "trained_steps": trained, "pair": pair, "moving": split.names[m],
                         "fixed": split.names[f],
                         "folding_network": float(folded.mean()),
                         "displacement_at_folds": float(length[folded].mean()) if folded.any() else np.nan,
                         "displacement_p99": float(np.percentile(length, 99)),
                         "folding_image": result.folding_fraction,
                         "min_det_image": float(jacobian_determinant(result.field).min()),
                         "folding_integrated_at_image": float(np.mean(at_image <= 0)) if count else np.nan,
                         "min_det_integrated_at_image": float(at_image.min()) if count else np.nan,
                         "dice": dice(result.warped_mask, split.labels[f])})
    return pd.DataFrame(rows)


def image_size_integration(registrar, prepared, velocity, steps):
    """Jacobian determinant of the field made by upsampling a (1, S, S, 2) network-size
    velocity to the image and integrating it there, with as many more steps as halvings
    of the side, so that each step moves as far in image pixels as before (cropped to the
    fixed image)."""
    side = prepared["fixed"].shape[0]
    extra = int(np.ceil(np.log2(side / registrar.size)))
    field = integrate_velocity(registrar.ops.resize_field(velocity, side, registrar.resize), steps + extra)[0]
    return jacobian_determinant(crop(field, prepared["box"]))


def at_image_cells(rows):
    """The three image-size integration cells of a summary row ('-' for 0 steps)."""
    if rows.folding_integrated_at_image.isna().all():
        return "- | - | -"
    return (f"{100 * rows.folding_integrated_at_image.mean():.4f} | {int((rows.folding_integrated_at_image > 0).sum())} "
            f"| {rows.min_det_integrated_at_image.min():.3f}")


def summary_table(table):
    """Markdown table, one row per step count, of :func:`folding_sources`' rows."""
    lines = ["| steps | folding % at network size | pairs | folding % at image size | pairs "
             "| min det (worst) | integrated at image size: folding % | pairs | min det (worst) "
             "| Dice (mean) | displacement at folds (px) | displacement, 99th pct (px) |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for count, rows in table.groupby("steps", sort=False):
        label = f"{count} (trained)" if count == rows.trained_steps.iloc[0] else str(count)
        lines.append(f"| {label} | {100 * rows.folding_network.mean():.4f} | {int((rows.folding_network > 0).sum())} "
                     f"| {100 * rows.folding_image.mean():.4f} | {int((rows.folding_image > 0).sum())} "
                     f"| {rows.min_det_image.min():.3f} | {at_image_cells(rows)} "
                     f"| {rows.dice.mean():.4f} "
                     f"| {rows.displacement_at_folds.mean():.1f} | {rows.displacement_p99.mean():.1f} |")
    return "\n".join(lines) + "\n"


def parse_steps(text):
    try:
        steps = [int(part) for part in text.split(",")]
    except ValueError:
        raise InputError(f"--steps {text!r}: expected whole numbers separated by commas") from None
    if any(count < 0 or count > 64 for count in steps):
        raise InputError(f"--steps {text!r}: each count must lie in 0..64")
    return steps


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="dataset name or TOML file")
    parser.add_argument("--model", required=True, help="run or model folder trained with --integration-steps")
    parser.add_argument("--steps", default="0,7,10,14", help="step counts to integrate with, comma-separated")
    parser.add_argument("--data-dir", help="data root (default: $ACREGNET_DATA)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        table = folding_sources(args.dataset, args.model, parse_steps(args.steps), args.data_dir)
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    args.output.mkdir(parents=True, exist_ok=True)
    write_text_atomic(args.output / "folding-sources.csv", table.to_csv(index=False, float_format="%.6g"))
    command = "python experiments/folding_sources.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = (f"## {args.dataset}: folding of a velocity-field model by integration steps, "
            f"{table.pair.nunique()} test pairs (seed 0)\n\n{summary_table(table)}\n`{command}`\n")
    write_text_atomic(args.output / "folding-sources.md", text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
