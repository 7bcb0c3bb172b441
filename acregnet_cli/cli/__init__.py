"""The ``acregnet`` command line: a thin layer over the library.

Errors the user can act on are printed as one line ``acregnet: error: ...`` with
exit code 2 (bad input) or 1 (failure at run time); ``--debug`` shows tracebacks.
TensorFlow is imported inside the commands so that ``--help`` stays instant.
"""

import json
import os
import sys
import time
from pathlib import Path

import click

from acregnet_cli import __version__
from acregnet_cli.options import MASK_OUTSIDE, PREALIGN_KINDS
from acregnet_cli.errors import AcregnetError, InputError

VARIANT_NAMES = ("regnet", "ce-regnet", "ae-regnet", "ac-regnet")
# Up to this many pairs, NumPy inference beats paying for TensorFlow's start-up on a
# CPU: 64 pairs with masks took 2.5 s with NumPy and 5.8 s with TensorFlow on 2 cores
# (benchmarks/results); where an NVIDIA GPU is present TensorFlow is used instead.
NUMPY_ENGINE_MAX_PAIRS = 64


def _has_nvidia_gpu():
    """Whether an NVIDIA device node exists (cheap: no TensorFlow import)."""
    return os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia/gpus")


def _import_tensorflow(debug=False):
    """Import TensorFlow once, hiding the C++ start-up chatter unless debugging.

    Some of those lines are printed before TensorFlow reads TF_CPP_MIN_LOG_LEVEL,
    so standard error is pointed at /dev/null for the duration of the import.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if debug:
        import tensorflow  # noqa: F401
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
            import tensorflow as tf

            # The first device query reports a missing CUDA driver on CPU machines.
            tf.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class AcregnetGroup(click.Group):
    """Click group that turns :class:`AcregnetError` into a one-line message."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except AcregnetError as exc:
            if ctx.meta.get("acregnet.debug"):
                raise
            click.echo(f"acregnet: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except Exception as exc:  # anything else is a failure at run time, reported in one line
            if ctx.meta.get("acregnet.debug"):
                raise
            message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            click.echo(f"acregnet: error: {exc.__class__.__name__}: {message} (rerun with --debug for the traceback)",
                       err=True)
            ctx.exit(1)


@click.group(cls=AcregnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="acregnet")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
@click.pass_context
def main(ctx, debug):
    """AC-RegNet: anatomically constrained deformable registration of chest X-rays."""
    ctx.meta["acregnet.debug"] = debug


def _emit_json(data):
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))


def _dataset_options(function):
    function = click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                            help="Data root (default: $ACREGNET_DATA).")(function)
    function = click.option("--dataset", required=True,
                            help="Dataset name (jsrt, montgomery, shenzhen) or a dataset TOML file.")(function)
    return function


def _training_options(function):
    options = [
        click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout."),
        click.option("--strategy", type=click.Choice(["default", "mirrored", "multi-worker"]), default="default",
                      show_default=True, help="tf.distribute strategy: one device, local GPUs (or CPU devices), "
                                              "or the workers of TF_CONFIG."),
        click.option("--cpu-devices", type=int, help="Split the CPU into this many logical devices (for mirrored)."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
        click.option("--overwrite", is_flag=True, help="Start afresh in a non-empty run directory."),
        click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint."),
        click.option("--validation-fraction", type=float, help="Hold out this share of the training list (seeded)."),
        click.option("--log-every", type=int, help="Iterations between log rows."),
        click.option("--checkpoint-every", type=int, help="Iterations between checkpoints."),
        click.option("--seed", type=int, help="Random seed (weights, sampling, noise)."),
        click.option("--size", type=int, help="Training image size (64 or 256 with the authors' data)."),
        click.option("--learning-rate", type=float, help="Adam learning rate."),
        click.option("--lr-schedule", type=click.Choice(["constant", "cosine", "step"]),
                     help="Learning rate over the run: constant (the paper), cosine decay, or a step down at 2/3 "
                          "(to learning_rate * final_lr_fraction, 0.1 by default; set in a --config file)."),
        click.option("--batch-size", type=int, help="Batch size."),
        click.option("--iterations", type=int, help="Number of training iterations."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="TOML file overriding the default settings."),
        click.option("-o", "--run-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Run directory (default: runs/<dataset>-<kind>)."),
    ]
    for option in options:
        function = option(function)
    return _dataset_options(function)


def _load_training_data(dataset, data_dir, fold, size, validation_fraction, seed):
    from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
    from acregnet_cli.datasets.layout import carve_validation, load_split

    config = load_dataset_config(dataset)
    root = resolve_data_root(data_dir)
    split = load_split(config, root, fold, size)
    train, validation = carve_validation(split, validation_fraction, seed)
    return config, train, validation


@main.command("train-ae")
@_training_options
@click.option("--code-size", type=int, help="Length of the autoencoder code (32).")
@click.option("--swap-probability", type=float, help="Probability of swapping a pixel pair (0.1).")
@click.option("--augment-rotation", type=float,
              help="Extension: rotate each training mask by up to this many degrees (0: none, the paper).")
@click.option("--augment-scale", type=float,
              help="Extension: scale each training mask along each axis by up to this fraction (0: none).")
@click.option("--augment-shift", type=float,
              help="Extension: shift each training mask by up to this fraction of its side (0: none).")
def train_ae(dataset, data_dir, run_dir, config_file, iterations, batch_size, learning_rate, lr_schedule, size, seed,
             checkpoint_every, log_every, validation_fraction, resume, overwrite, quiet, as_json, strategy, cpu_devices,
             code_size, swap_probability, augment_rotation, augment_scale, augment_shift):
    """Stage one: train the denoising autoencoder of anatomical masks.

    Example: acregnet train-ae --dataset jsrt -o runs/jsrt-ae
    """
    _import_tensorflow(click.get_current_context().meta.get("acregnet.debug"))
    from acregnet_cli.datasets.config import load_training_settings
    from acregnet_cli.io.images import write_json_atomic
    from acregnet_cli.models.files import load_autoencoder
    from acregnet_cli.training.trainers import evaluate_autoencoder, train_autoencoder

    settings = load_training_settings(
        "train_ae", config_file, iterations=iterations, batch_size=batch_size, learning_rate=learning_rate,
        size=size, seed=seed, checkpoint_every=checkpoint_every, log_every=log_every,
        validation_fraction=validation_fraction, code_size=code_size, swap_probability=swap_probability,
        lr_schedule=lr_schedule, augment_rotation=augment_rotation, augment_scale=augment_scale,
        augment_shift=augment_shift,
    )
    config, train, validation = _load_training_data(
        dataset, data_dir, "train", settings["size"], settings["validation_fraction"], settings["seed"])
    run_dir = run_dir or Path("runs") / f"{config.name}-ae"
    extra = {"dataset": config.name, "label_values": list(config.label_values)}
    from acregnet_cli.training.distribute import make_strategy, worker_identity

    distribution = make_strategy(strategy, cpu_devices)
    outcome = train_autoencoder(train, config.num_classes, settings, run_dir, resume=resume,
                                overwrite=overwrite, progress=not quiet, extra=extra, strategy=distribution)
    if not worker_identity(distribution)[0]:
        return  # only the chief writes the run directory
    encoder, decoder, _ = load_autoencoder(run_dir)
    summary = dict(outcome, run_dir=str(run_dir), dataset=config.name, strategy=strategy,
                   replicas=distribution.num_replicas_in_sync,
                   seconds_per_iteration=outcome["seconds"] / max(1, outcome["iterations"] - outcome["resumed_from"]))
    for name, part in (("train", train), ("validation", validation)):
        if part is not None:
            dice = evaluate_autoencoder(encoder, decoder, part, config.num_classes)
            summary[f"{name}_reconstruction_dice"] = dict(zip(config.class_names[1:], map(float, dice)))
    write_json_atomic(run_dir / "summary.json", summary)
    if as_json:
        _emit_json(summary)
    else:
        click.echo(f"autoencoder trained: {run_dir} ({summary['seconds_per_iteration']:.3f} s/iteration)")


@main.command("train-reg")
@_training_options
@click.option("--variant", type=click.Choice(VARIANT_NAMES), default="ac-regnet", show_default=True,
              help="Which loss terms to train with.")
@click.option("--ae-run", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="train-ae run directory whose encoder is frozen (AE and AC variants).")
@click.option("--lambda-r", type=float, help="Weight of total variation (5e-5).")
@click.option("--lambda-ce", type=float, help="Weight of the mask cross-entropy (1).")
@click.option("--lambda-ae", type=float, help="Weight of the autoencoder code distance (0.1).")
@click.option("--ce-form", type=click.Choice(["release", "textbook"]),
              help="Cross-entropy as the original release computed it (default) or the textbook form.")
@click.option("--jit/--no-jit", "jit_compile", default=None, help="XLA-compile the training step.")
@click.option("--integration-steps", type=int,
              help="0 (the paper): the network predicts the displacement. N > 0 (extension): it predicts a "
                   "velocity field integrated by N scaling-and-squaring steps into a fold-free displacement.")
@click.option("--init-from", "init_from",
              help="Start from a trained model's weights (run directory, weights file or bundled model name) "
                   "to fine-tune it or train it further; the optimizer starts afresh.")
def train_reg(dataset, data_dir, run_dir, config_file, iterations, batch_size, learning_rate, lr_schedule, size, seed,
              checkpoint_every, log_every, validation_fraction, resume, overwrite, quiet, as_json, strategy, cpu_devices,
              variant, ae_run, lambda_r, lambda_ce, lambda_ae, ce_form, jit_compile, integration_steps, init_from):
    """Stage two: train the registration network (VectorCNN).

    Example: acregnet train-reg --dataset jsrt --variant ac-regnet --ae-run runs/jsrt-ae -o runs/jsrt-ac
    """
    _import_tensorflow(click.get_current_context().meta.get("acregnet.debug"))
    from acregnet_cli.datasets.config import load_training_settings
    from acregnet_cli.io.images import write_json_atomic
    from acregnet_cli.training.trainers import train_registration

    settings = load_training_settings(
        "train_reg", config_file, iterations=iterations, batch_size=batch_size, learning_rate=learning_rate,
        size=size, seed=seed, checkpoint_every=checkpoint_every, log_every=log_every,
        validation_fraction=validation_fraction, lambda_r=lambda_r, lambda_ce=lambda_ce, lambda_ae=lambda_ae,
        ce_form=ce_form, jit_compile=jit_compile, lr_schedule=lr_schedule, integration_steps=integration_steps,
    )
    config, train, validation = _load_training_data(
        dataset, data_dir, "train", settings["size"], settings["validation_fraction"], settings["seed"])
    run_dir = run_dir or Path("runs") / f"{config.name}-{variant}"
    extra = {"dataset": config.name}
    from acregnet_cli.training.distribute import make_strategy, worker_identity

    distribution = make_strategy(strategy, cpu_devices)
    outcome = train_registration(train, config.num_classes, settings, variant, run_dir, ae_run=ae_run,
                                 resume=resume, overwrite=overwrite, progress=not quiet, extra=extra,
                                 strategy=distribution,
                                 init_from=_resolve_model(init_from) if init_from else None)
    if not worker_identity(distribution)[0]:
        return  # only the chief writes the run directory
    summary = dict(outcome, run_dir=str(run_dir), dataset=config.name, variant=variant, strategy=strategy,
                   replicas=distribution.num_replicas_in_sync,
                   seconds_per_iteration=outcome["seconds"] / max(1, outcome["iterations"] - outcome["resumed_from"]))
    if validation is not None:
        summary["validation"] = _validation_scores(run_dir, validation, config)
    write_json_atomic(run_dir / "summary.json", summary)
    if as_json:
        _emit_json(summary)
    else:
        click.echo(f"registration network trained: {run_dir} ({summary['seconds_per_iteration']:.3f} s/iteration)")


def _validation_scores(run_dir, validation, config, pairs=64, seed=0):
    """Mean Dice before and after registration on random validation pairs at training size."""
    import numpy as np

    from acregnet_cli.metrics import mean_dice
    from acregnet_cli.models.files import load_vector_cnn
    from acregnet_cli.registration.registrar import Registrar

    model, description = load_vector_cnn(run_dir)
    registrar = Registrar(model, description["size"], description.get("resize", "modern"), keep_onehot=False)
    rng = np.random.RandomState(seed)
    moving_idx = rng.choice(len(validation), pairs)
    fixed_idx = rng.choice(len(validation), pairs)
    jobs = [(validation.images[m], validation.images[f], validation.labels[m]) for m, f in zip(moving_idx, fixed_idx)]
    results = registrar.register_many(jobs)
    classes = range(1, config.num_classes)
    before, after = [], []
    for (m, f), result in zip(zip(moving_idx, fixed_idx), results):
        before.append(mean_dice(validation.labels[m], validation.labels[f], classes))
        after.append(mean_dice(result.warped_mask, validation.labels[f], classes))
    return {"pairs": pairs, "dice_before": float(np.mean(before)), "dice_after": float(np.mean(after))}


_passes_option = click.option(
    "--passes", type=click.IntRange(min=1), default=1, show_default=True,
    help="Network passes: 1 is the paper's method; 2 applies the network again to the warped image and "
         "composes the two fields (an extension; see the README's results).")


_mask_outside_option = click.option(
    "--mask-outside", type=click.Choice(MASK_OUTSIDE), default="edge", show_default=True,
    help="The warped mask where the field samples outside the moving image: the label at the border (edge, as "
         "the original release and the paper's evaluation) or background (a mask that touches the border is "
         "then not drawn out into streaks).")

_prealign_option = click.option(
    "--prealign", type=click.Choice(PREALIGN_KINDS),
    help="Fit a global transform between the two images (at network size, by gradient descent on minus NCC) "
         "before the network, for pairs framed very differently (an extension; needs TensorFlow; see the "
         "README's results).")


def _resolve_model(model):
    """A run directory or weights file; the bundled default when none is given."""
    from acregnet_cli.resources import data_dir

    if model is not None:
        bundled = data_dir() / "models" / str(model)
        if not Path(model).exists() and bundled.is_dir():
            return bundled
        return Path(model)
    default = data_dir() / "models" / "jsrt"
    if not default.is_dir():
        raise InputError("no --model given and no bundled model is installed; pass --model RUN_DIR")
    return default


@main.command("register")
@click.argument("moving", required=False, type=click.Path(path_type=Path))
@click.argument("fixed", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: <moving>_to_<fixed>, or 'registered' with --pairs).")
@click.option("--model", help="train-reg run directory, weights file, or bundled model name (default: jsrt).")
@click.option("--mask", "moving_mask", type=click.Path(path_type=Path), help="Label map of the moving image to warp.")
@click.option("--pairs", "pairs_file", type=click.Path(path_type=Path),
              help="CSV of pairs (columns moving, fixed[, moving_mask, name]) registered in one process.")
@click.option("--resize", type=click.Choice(["modern", "legacy"]),
              help="Resize between image and network size (default: the model's).")
@click.option("--spacing", type=float,
              help="Pixel spacing written into the NIfTI field (default: the fixed DICOM's, else 1).")
@click.option("--max-side", type=int, default=4096, show_default=True,
              help="Reduce larger images by an integer factor before registering (memory bound).")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Pairs per network call.")
@click.option("--engine", type=click.Choice(["auto", "tensorflow", "numpy"]), default="auto", show_default=True,
              help="numpy skips TensorFlow's start-up (fastest for up to a few hundred pairs on a CPU); auto "
                   f"picks it for up to {NUMPY_ENGINE_MAX_PAIRS} pairs when no NVIDIA GPU is present.")
@_passes_option
@_mask_outside_option
@_prealign_option
@click.option("--shard", help="With --pairs: do only share I of N (I/N, 0-based); merge the tables with "
                             "`acregnet merge OUTPUT`.")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (otherwise done pairs are skipped).")
@click.option("--json", "as_json", is_flag=True, help="Print the summaries as JSON on stdout.")
def register(moving, fixed, output, model, moving_mask, pairs_file, resize, spacing, max_side, batch_size, engine,
             passes, mask_outside, prealign, shard, overwrite, as_json):
    """Register MOVING onto FIXED (or every pair of --pairs) with a trained model.

    Writes warped.png, field.npy (H, W, 2: rows, columns, pixels), field.nii.gz
    (ITK convention), warped_mask.png with --mask, and summary.json.

    Example: acregnet register moving.png fixed.png -o out --mask moving_mask.png
    """
    from acregnet_cli.io.pairs import Pair, default_pair_name, read_pairs_csv

    if pairs_file is not None:
        if moving is not None or fixed is not None or moving_mask is not None:
            raise InputError("give either MOVING FIXED [--mask] or --pairs, not both")
        from acregnet_cli.workflows.sharding import parse_shard, select, table_name

        shard_spec = parse_shard(shard)
        pairs = [pair for _, pair in select(read_pairs_csv(pairs_file), shard_spec)]
        out_root = output or Path("registered")
        targets = [(pair, out_root / pair.name) for pair in pairs]
        table = out_root / table_name("registrations", shard_spec)
    else:
        if moving is None or fixed is None:
            raise InputError("give MOVING and FIXED images, or --pairs CSV")
        for path in (moving, fixed) + ((moving_mask,) if moving_mask else ()):
            if path.is_dir():
                raise InputError(f"{path}: is a directory, expected an image file")
            if not path.is_file():
                raise InputError(f"{path}: file not found")
        if shard is not None:
            raise InputError("--shard applies to --pairs")
        pair = Pair(moving, fixed, moving_mask, default_pair_name(moving, fixed))
        out = output or Path(pair.name)
        table = None
        if (out / "summary.json").exists() and not overwrite:
            raise InputError(f"{out}: holds a registration already (use --overwrite to replace it)")
        targets = [(pair, out)]

    if engine == "auto":
        # The pre-alignment is fitted with TensorFlow, so the NumPy engine would save no start-up.
        numpy_wins = len(targets) <= NUMPY_ENGINE_MAX_PAIRS and not _has_nvidia_gpu() and prealign is None
        engine = "numpy" if numpy_wins else "tensorflow"
    elif engine == "numpy" and prealign is not None:
        raise InputError("--prealign fits with TensorFlow: use --engine tensorflow (or auto)")
    if engine == "tensorflow":
        _import_tensorflow(click.get_current_context().meta.get("acregnet.debug"))
    elif "numpy" not in sys.modules:
        # A few 64x64 network passes are small matrix products: starting OpenBLAS's
        # thread pool costs more than it saves (measured: 45 ms of a 0.3 s run).
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from acregnet_cli.workflows.register import register_pairs

    model_path = _resolve_model(model)
    summaries = register_pairs(targets, model_path, resize=resize, spacing=spacing, batch_size=batch_size,
                               overwrite=overwrite, echo=None if as_json else click.echo, max_side=max_side,
                               engine=engine, table=table, passes=passes, mask_outside=mask_outside,
                               prealign=prealign)
    if as_json:
        _emit_json(summaries if pairs_file is not None else summaries[0])


@main.command("merge")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def merge_command(folder):
    """Join the tables written by sharded runs (register --pairs --shard, segment --shard) into one.

    Example: acregnet merge registered
    """
    from acregnet_cli.workflows.sharding import merge_tables

    for path in merge_tables(folder):
        click.echo(f"merged {path}")


@main.command("import-tf1")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Model folder to write (usable as register --model).")
@click.option("--overwrite", is_flag=True, help="Replace a model already in OUTPUT.")
@click.option("--json", "as_json", is_flag=True, help="Print what was imported as JSON.")
def import_tf1_command(checkpoint, output, overwrite, as_json):
    """Convert an original TensorFlow 1 checkpoint (VectorCNN or CNN_AE) into a model folder.

    CHECKPOINT is the prefix, e.g. .../model.ckpt (with model.ckpt.index beside it).

    Example: acregnet import-tf1 original/model.ckpt -o models/original-jsrt
    """
    _import_tensorflow(click.get_current_context().meta.get("acregnet.debug"))
    from acregnet_cli.models.tf1 import import_tf1

    summary = import_tf1(checkpoint, output, overwrite=overwrite)
    if as_json:
        _emit_json(summary)
    else:
        click.echo(f"imported {summary['architecture']} ({summary['variables']} variables) into {output}")


@main.command("segment")
@click.argument("targets", nargs=-1, type=click.Path(path_type=Path))
@click.option("--atlases", required=True,
              help="Atlas folder (images/ and labels/ with the same names) or DATASET:FOLD, e.g. jsrt:train.")
@click.option("--targets-from", help="Segment a dataset fold instead of TARGET files, e.g. jsrt:test "
                                     "(scores against its masks are reported).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Data root for DATASET:FOLD (default: $ACREGNET_DATA).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder for masks, overlays and segmentation.csv.")
@click.option("--k", "k", type=int, default=5, show_default=True, help="Atlases per target (highest NCC).")
@click.option("--fusion", type=click.Choice(["majority", "weighted"]), default="majority", show_default=True,
              help="Label fusion: majority vote, or vote weighted by local NCC.")
@click.option("--model", help="Registration model (default: the bundled JSRT model).")
@click.option("--no-overlay", is_flag=True, help="Do not draw overlay PNGs.")
@_passes_option
@_mask_outside_option
@_prealign_option
@click.option("--shard", help="Do only share I of N of the targets (I/N, 0-based); merge with `acregnet merge OUTPUT`.")
@click.option("--overwrite", is_flag=True, help="Redo targets already segmented in OUTPUT.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def segment_command(targets, atlases, targets_from, data_dir, output, k, fusion, model, no_overlay, passes,
                    mask_outside, prealign, shard, overwrite, as_json):
    """Multi-atlas segmentation: register the k most similar atlases onto each target and fuse their masks.

    Example: acregnet segment new1.png new2.png --atlases atlas_dir -o masks --k 5
    """
    _import_tensorflow(click.get_current_context().meta.get("acregnet.debug"))
    from acregnet_cli.workflows.segment import run_segmentation

    if bool(targets) == bool(targets_from):
        raise InputError("give TARGET image files or --targets-from DATASET:FOLD (one of the two)")
    if k < 1:
        raise InputError(f"--k must be at least 1, got {k}")
    from acregnet_cli.workflows.sharding import parse_shard

    summary = run_segmentation(list(targets), atlases, targets_from, data_dir, output, _resolve_model(model),
                               k=k, fusion=fusion, overlay=not no_overlay, overwrite=overwrite,
                               echo=None if as_json else (lambda line: click.echo(line, err=True)),
                               shard=parse_shard(shard), passes=passes, mask_outside=mask_outside,
                               prealign=prealign)
    if as_json:
        _emit_json(summary)
    else:
        click.echo(f"{summary['segmented']} target(s) segmented into {output}"
                   + (f"; mean Dice {summary['mean_dice']:.3f}" if summary.get("mean_dice") is not None else ""))


@main.command("qc")
@click.argument("masks", nargs=-1, type=click.Path(path_type=Path))
@click.option("--images", "images", multiple=True, type=click.Path(path_type=Path),
              help="The image of each mask, in the same order (repeat the option, or give a folder "
                   "holding <name>.png for each <name>_mask.png / <name>.png).")
@click.option("--references", required=True,
              help="Reference images with ground truth: folder with images/ and labels/, or DATASET:FOLD.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Data root for DATASET:FOLD (default: $ACREGNET_DATA).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--threshold", type=float, default=0.92, show_default=True, help="Accept masks with predicted Dice >= this.")
@click.option("--max-references", type=int, default=20, show_default=True,
              help="Register onto this many references (those most similar to the image).")
@click.option("--model", help="Registration model (default: the bundled JSRT model).")
@_passes_option
@_mask_outside_option
@_prealign_option
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def qc_command(masks, images, references, data_dir, output, threshold, max_references, model, passes, mask_outside,
               prealign, as_json):
    """Quality control of segmentations by reverse classification accuracy.

    Each mask, with its image, is registered onto reference images with ground truth;
    the best Dice reached estimates its quality; masks under --threshold are flagged.

    Example: acregnet qc seg/*_mask.png --images imgs/ --references jsrt:train -o qc
    """
    _import_tensorflow(click.get_current_context().meta.get("acregnet.debug"))
    from acregnet_cli.workflows.qc import run_qc

    image_paths = list(images)
    if len(image_paths) == 1 and image_paths[0].is_dir():
        folder = image_paths[0]
        image_paths = []
        for mask in masks:
            stem = Path(mask).stem
            stem = stem[:-5] if stem.endswith("_mask") else stem
            candidates = sorted(folder.glob(stem + ".*"))
            if not candidates:
                raise InputError(f"{mask}: no image {stem}.* in {folder}")
            image_paths.append(candidates[0])
    summary, _ = run_qc(list(masks), image_paths, references, data_dir, output, _resolve_model(model),
                        threshold=threshold, max_references=max_references, passes=passes,
                        mask_outside=mask_outside, prealign=prealign,
                        echo=None if as_json else (lambda line: click.echo(line, err=True)))
    if as_json:
        _emit_json(summary)
    else:
        click.echo(f"{summary['masks']} masks checked, {summary['rejected']} under {threshold}: {output}/qc.csv")


@main.group("experiment")
def experiment():
    """Experiments of the paper's Section 5 on the learnt anatomical representation."""


def _refuse_earlier_report(output, names, overwrite):
    """Fail before any work if OUTPUT holds one of a report's files and --overwrite is not given."""
    earlier = [name for name in names if (Path(output) / name).exists()]
    if earlier and not overwrite:
        raise InputError(f"{output}: holds {', '.join(earlier)} already (use --overwrite to replace)")


@experiment.command("plausibility")
@_dataset_options
@click.option("--ae-run", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="train-ae run directory (or bundled autoencoder folder).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("-n", "--masks", type=int, default=20, show_default=True, help="Test masks to modify.")
@click.option("--pixels", type=int, default=120, show_default=True, help="Pixels changed by every modification.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an earlier report in OUTPUT.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def plausibility_command(dataset, data_dir, ae_run, output, masks, pixels, seed, overwrite, as_json):
    """Section 5.1: cross-entropy vs autoencoder loss for plausible and implausible mask changes.

    Example: acregnet experiment plausibility --dataset jsrt --ae-run runs/jsrt-ae -o plausibility
    """
    _refuse_earlier_report(output, ("plausibility.csv", "plausibility.md", "plausibility.png"), overwrite)
    _import_tensorflow(click.get_current_context().meta.get("acregnet.debug"))
    from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
    from acregnet_cli.datasets.layout import load_split
    from acregnet_cli.applications.experiments import plausibility, write_plausibility_report
    from acregnet_cli.models.files import load_autoencoder

    from acregnet_cli.applications.experiments import modifications_for

    config = load_dataset_config(dataset)
    try:
        modifications = modifications_for(config.class_names)
    except ValueError as exc:
        raise InputError(f"{config.name}: {exc}") from None
    encoder, _, description = load_autoencoder(ae_run)
    test = load_split(config, resolve_data_root(data_dir), "test", description["size"])
    try:
        rows = plausibility(test.labels[:masks], encoder, config.num_classes, pixels=pixels, seed=seed,
                            modifications=modifications)
    except ValueError as exc:
        raise InputError(f"{config.name} test masks: {exc}") from None
    summary = write_plausibility_report(rows, output, f"{config.name}: {min(masks, len(test))} test masks, "
                                                      f"{pixels} pixels changed")
    ae = {name: values["ae"][0] for name, values in summary.items()}
    ce = {name: values["ce_release"][0] for name, values in summary.items()}
    result = {"ae_loss": ae, "cross_entropy": ce,
              "cross_entropy_equal": bool(max(ce.values()) - min(ce.values()) < 1e-6),
              "erosion_lowest_ae": min(ae, key=ae.get) == "erosion", "output": str(output)}
    if as_json:
        _emit_json(result)
    else:
        for name in ae:
            click.echo(f"{name:18s} cross-entropy {ce[name]:.4f}  autoencoder loss {ae[name]:.4f}")
        click.echo(f"expected outcome (equal cross-entropy, lowest autoencoder loss for erosion): "
                   f"{'holds' if result['cross_entropy_equal'] and result['erosion_lowest_ae'] else 'does not hold'}")


@experiment.command("codes")
@_dataset_options
@click.option("--ae-run", required=True, type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="train-ae run directory of the same dataset.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--folds", type=int, default=20, show_default=True, help="Cross-validation folds.")
@click.option("--components", type=int, default=32, show_default=True, help="PCA components (the code's length).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace an earlier codes.json in OUTPUT.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
def codes_command(dataset, data_dir, ae_run, output, folds, components, seed, overwrite, as_json):
    """Representation study: diagnosis from PCA of the masks vs the autoencoder code (SVM, k-fold CV).

    Labels come from the file names (Montgomery/Shenzhen *_1 tuberculosis vs *_0
    normal; JSRT JPCLN nodule vs JPCNN none), on a balanced set of all the masks.

    Example: acregnet experiment codes --dataset shenzhen --ae-run runs/shenzhen-ae -o codes
    """
    _refuse_earlier_report(output, ("codes.json",), overwrite)
    _import_tensorflow(click.get_current_context().meta.get("acregnet.debug"))
    import numpy as np

    from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
    from acregnet_cli.datasets.layout import load_split
    from acregnet_cli.applications.experiments import diagnosis_from_name, representation_study
    from acregnet_cli.io.images import write_json_atomic
    from acregnet_cli.models.files import load_autoencoder

    config = load_dataset_config(dataset)
    encoder, _, description = load_autoencoder(ae_run)
    if description["num_classes"] != config.num_classes:
        raise InputError(f"{ae_run}: autoencoder has {description['num_classes']} classes, {config.name} {config.num_classes}")
    root = resolve_data_root(data_dir)
    splits = [load_split(config, root, fold, description["size"]) for fold in ("train", "test")]
    names = [n for s in splits for n in s.names]
    masks = np.concatenate([s.labels for s in splits])
    labels = [diagnosis_from_name(n) for n in names]
    known = [i for i, label in enumerate(labels) if label is not None]
    if not known:
        raise InputError(f"{config.name}: no diagnosis can be read from the file names")
    try:
        results = representation_study(masks[known], [labels[i] for i in known], encoder, config.num_classes,
                                       components=components, folds=folds, seed=seed)
    except ValueError as exc:
        raise InputError(f"{config.name}: {exc}") from None
    results.update(dataset=config.name, ae_run=str(ae_run))
    write_json_atomic(Path(output) / "codes.json", results)
    if as_json:
        _emit_json(results)
    else:
        for name in ("pca", "autoencoder"):
            click.echo(f"{name:12s} accuracy {results[name]['accuracy_mean']:.3f} ({results[name]['accuracy_std']:.3f})")
        click.echo(f"balanced set of {results['balanced_set']} masks, {folds}-fold cross-validation")


@main.command("preprocess")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Data root to write (usable as --data-dir).")
@click.option("--layout", type=click.Choice(["jsrt-scr", "montgomery", "shenzhen"]),
              help="Source layout (default: detected).")
@click.option("--sizes", default="256,64", show_default=True, help="Output sizes, comma separated.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the 60/20/20 split.")
@click.option("--split-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with train.txt/validation.txt/test.txt naming the subjects (instead of a seeded split).")
@click.option("--align-to", help="Align every image to this subject with a similarity transform (elastix).")
@click.option("--no-invert-img", is_flag=True, help="Keep raw JSRT .IMG values as stored (no inversion).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier preprocessing in OUTPUT.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def preprocess_command(source, output, layout, sizes, seed, split_dir, align_to, no_invert_img, overwrite, as_json):
    """Convert a dataset as distributed (JSRT+SCR, Montgomery, Shenzhen) to the authors' layout.

    Example: acregnet preprocess JSRT-SCR/ -o mydata && acregnet train-ae --dataset mydata/jsrt.toml --data-dir mydata
    """
    from acregnet_cli.datasets.preprocess import preprocess

    try:
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
    except ValueError:
        raise InputError(f"--sizes {sizes!r}: expected integers separated by commas") from None
    summary = preprocess(source, output, layout=layout, sizes=size_list, seed=seed, split_dir=split_dir,
                         align_to=align_to, invert_img=not no_invert_img, overwrite=overwrite,
                         echo=None if as_json else (lambda line: click.echo(line, err=True)))
    if as_json:
        _emit_json(summary)
    else:
        click.echo(f"{summary['subjects']} subjects written to {output} ({summary['split']}); "
                   f"dataset: {summary['dataset_config']}")


@main.command("phantom")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the phantom dataset into.")
@click.option("-n", "--count", type=int, default=10, show_default=True, help="Number of subjects.")
@click.option("--size", type=int, default=256, show_default=True, help="Image size in pixels.")
@click.option("--seed", type=int, default=0, show_default=True, help="Random seed.")
@click.option("--overwrite", is_flag=True, help="Replace phantoms already in OUTPUT.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
def phantom_command(output, count, size, seed, overwrite, as_json):
    """Write procedural chest radiograph phantoms with lung and heart masks.

    The folder holds a dataset in the authors' layout (usable with --dataset
    OUTPUT/phantom.toml --data-dir OUTPUT) and pairs.csv for register --pairs.

    Example: acregnet phantom -o phantoms -n 20
    """
    from acregnet_cli.datasets.phantom import write_phantom_dataset

    summary = write_phantom_dataset(output, count, size=size, seed=seed, overwrite=overwrite)
    if as_json:
        _emit_json(summary)
    else:
        click.echo(f"{count} phantoms written to {output} (dataset: {summary['dataset_config']}, pairs: {summary['pairs']})")


@main.command("demo")
@click.option("-o", "--output", default="acregnet-demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for the demo's files.")
@click.option("--model", help="Model to demonstrate (default: the bundled JSRT model).")
@click.option("--seed", type=int, default=1, show_default=True, help="Which phantom pair to draw.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier demo in OUTPUT.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def demo_command(output, model, seed, overwrite, as_json):
    """Register a phantom pair with the bundled model and show the result.

    Writes the pair and its masks, the registration (warped image, field,
    warped mask), overlay.png and demo.json with the Dice before and after.

    Example: acregnet demo -o demo
    """
    from acregnet_cli.workflows.demo import run_demo

    summary = run_demo(output, _resolve_model(model), seed=seed, overwrite=overwrite)
    if as_json:
        _emit_json(summary)
    else:
        click.echo(f"demo written to {output}: Dice {summary['dice_before']:.3f} before, "
                   f"{summary['dice_after']:.3f} after registration (overlay: {summary['overlay']})")


def _register_evaluate():
    from acregnet_cli.cli.evaluate import evaluate

    main.add_command(evaluate)


_register_evaluate()

if __name__ == "__main__":  # pragma: no cover
    main()
