"""How well does a dataset's mask autoencoder generalise, and when does it start to overfit?

Two measurements, both written to ``experiments/DATASET/autoencoder-study/``:

1. ``bundled.json``: the bundled autoencoder (``data/models/DATASET-ae``, trained on the
   whole training fold for the paper's 18000 iterations) reconstructing the clean
   training masks and the unseen test masks (Dice per class). A large train/test gap
   means the encoder memorised the training masks, and the code distance that
   AE-RegNet and AC-RegNet minimise is then measured by an encoder that has only seen
   those exact shapes. It also holds the scale of the code: the mean squared code
   distance between random pairs of training masks, which sets how much lambda_ae
   weighs the autoencoder term at the start of registration training. ``--ae RUN``
   measures another autoencoder (e.g. one trained with mask augmentation) the same way,
   into ``RUN_NAME.json``.
2. ``curve.csv``: an autoencoder trained with the paper's settings on the training
   fold minus a held-out validation part (``--validation-fraction``), in chunks of
   ``--chunk`` iterations (resumed from its checkpoint each time), with its train,
   validation and test reconstruction Dice after every chunk. Choosing an iteration
   count uses the validation column only; the test column is reported, not used.

    python experiments/autoencoder_study.py montgomery [--chunk 1500 --iterations 18000]
    python experiments/autoencoder_study.py jsrt --bundled-only
    python experiments/autoencoder_study.py montgomery --iterations 4500 --augment 5,0.1,0.05
    python experiments/autoencoder_study.py montgomery --ae runs/montgomery-ae-aug

Resumable: rerun after an interruption and finished chunks are kept. Needs
ACREGNET_DATA; pin it with taskset to share a busy machine.
"""

import argparse
import csv
import io
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def reconstruction(ae_dir, folds):
    """Mean Dice per class of the autoencoder in ``ae_dir`` on each split in ``folds``."""
    from acregnet_cli.models.files import load_autoencoder
    from acregnet_cli.training import evaluate_autoencoder

    encoder, decoder, description = load_autoencoder(ae_dir)
    return {name: [float(x) for x in evaluate_autoencoder(encoder, decoder, split, description["num_classes"])]
            for name, split in folds.items()}


def code_distance_scale(ae_dir, split, pairs=2000, seed=0):
    """Mean and median squared code distance between random pairs of ``split``'s masks."""
    import numpy as np

    from acregnet_cli.models.files import load_autoencoder
    from acregnet_cli.tf import sampling as generators

    encoder, _, description = load_autoencoder(ae_dir)
    onehot = generators.one_hot_masks(split.labels, description["num_classes"])
    codes = encoder(onehot, training=False).numpy().reshape(len(split), -1)
    rng = np.random.default_rng(seed)
    first, second = rng.integers(0, len(codes), pairs), rng.integers(0, len(codes), pairs)
    distances = ((codes[first] - codes[second]) ** 2).sum(axis=1)
    return dict(pairs=pairs, mean=float(distances.mean()), median=float(np.median(distances)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset")
    parser.add_argument("--iterations", type=int, default=18000)
    parser.add_argument("--chunk", type=int, default=1500)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--runs", type=Path, default=ROOT / "runs")
    parser.add_argument("--bundled-only", action="store_true")
    parser.add_argument("--ae", type=Path, metavar="RUN",
                        help="Measure this autoencoder run instead of the bundled one (written to RUN_NAME.json) "
                             "and stop.")
    parser.add_argument("--augment", metavar="ROTATION,SCALE,SHIFT",
                        help="Train the curve's autoencoder with train-ae's mask augmentation (an extension), "
                             "e.g. 5,0.1,0.05; its run and curve are named after the three values.")
    args = parser.parse_args(argv)

    from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
    from acregnet_cli.datasets.layout import carve_validation, load_split
    from acregnet_cli.io.atomic import write_json_atomic, write_text_atomic

    config = load_dataset_config(args.dataset)
    root = resolve_data_root(None)
    out = ROOT / "experiments" / config.name / "autoencoder-study"
    out.mkdir(parents=True, exist_ok=True)
    train = load_split(config, root, "train", 64)
    test = load_split(config, root, "test", 64)
    classes = list(config.class_names[1:])

    ae_dir = args.ae or ROOT / "data" / "models" / f"{config.name}-ae"
    bundled = reconstruction(ae_dir, {"train": train, "test": test})
    scale = code_distance_scale(ae_dir, train)
    record = dict(dataset=config.name, autoencoder=ae_dir.name, classes=classes, train_masks=len(train),
                  test_masks=len(test), dice=bundled, train_pair_code_distance=scale)
    write_json_atomic(out / (f"{ae_dir.name}.json" if args.ae else "bundled.json"), record)
    print(f"{ae_dir.name}: train {bundled['train']}  test {bundled['test']}  "
          f"code distance of training pairs {scale['mean']:.2f} (median {scale['median']:.2f})")
    if args.bundled_only or args.ae:
        return 0

    # The training run carves its validation part with the same call and seed (0).
    fit, validation = carve_validation(train, args.validation_fraction, 0)
    augment_args, tag = [], ""
    if args.augment:
        rotation, scale, shift = (float(value) for value in args.augment.split(","))
        augment_args = ["--augment-rotation", str(rotation), "--augment-scale", str(scale),
                        "--augment-shift", str(shift)]
        tag = f"-aug-r{rotation:g}-s{scale:g}-t{shift:g}"
    run = args.runs / f"{config.name}-ae-study{tag}"
    curve_path = out / f"curve{tag}.csv"
    header = ["iteration", "train_dice", "validation_dice", "test_dice"]
    done = {}
    if curve_path.exists():
        with open(curve_path, newline="") as handle:
            done = {int(row["iteration"]): row for row in csv.DictReader(handle)}
    for stop in range(args.chunk, args.iterations + 1, args.chunk):
        if stop in done:
            continue
        command = ["acregnet", "train-ae", "--dataset", config.name, "--iterations", str(stop),
                   "--validation-fraction", str(args.validation_fraction), "-o", str(run), "--quiet",
                   *augment_args]
        if (run / "checkpoints").exists():
            command.append("--resume")
        subprocess.run(command, check=True)
        dice = reconstruction(run, {"train": fit, "validation": validation, "test": test})
        done[stop] = dict(iteration=stop, **{f"{name}_dice": round(sum(v) / len(v), 5) for name, v in dice.items()})
        table = io.StringIO()
        writer = csv.DictWriter(table, fieldnames=header)
        writer.writeheader()
        writer.writerows(done[k] for k in sorted(done))
        write_text_atomic(curve_path, table.getvalue())
        print(f"{stop}: " + "  ".join(f"{k} {done[stop][k]}" for k in header[1:]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
