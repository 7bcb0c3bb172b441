"""``train-ae`` and ``train-reg``: the two training stages."""

import functools

import click

from acregnet_cli import options as choices
from acregnet_cli.cli.common import emit, split_training_arguments, training_options


def _done(what, controls, summary):
    if summary is not None:  # None on a worker that is not the chief
        emit(controls["as_json"], summary,
             f"{what} trained: {summary['run_dir']} ({summary['seconds_per_iteration']:.3f} s/iteration)")


def augmentation_options(what):
    """The random affine augmentation options, worded for what each command moves."""
    options = [
        click.option("--augment-rotation", type=float,
                     help=f"Extension: rotate each training {what} by up to this many degrees (0: none, the paper)."),
        click.option("--augment-scale", type=float,
                     help=f"Extension: scale each training {what} along each axis by up to this fraction (0: none)."),
        click.option("--augment-shift", type=float,
                     help=f"Extension: shift each training {what} by up to this fraction of its side (0: none)."),
    ]

    def apply(command):
        for option in reversed(options):
            command = option(command)
        return command
    return apply


@click.command("train-ae")
@training_options
@click.option("--code-size", type=int, help="Length of the autoencoder code (32).")
@click.option("--swap-probability", type=float, help="Probability of swapping a pixel pair (0.1).")
@augmentation_options("mask")
def train_ae(**kwargs):
    """Stage one: train the denoising autoencoder of anatomical masks.

    Example: acregnet train-ae --dataset jsrt -o runs/jsrt-ae
    """
    from acregnet_cli.workflows.train import train_autoencoder_run

    controls, overrides = split_training_arguments(kwargs)
    summary = train_autoencoder_run(
        controls["dataset"], controls["data_dir"], controls["run_dir"], controls["config_file"], overrides,
        controls["strategy"], controls["cpu_devices"], controls["resume"], controls["overwrite"],
        not controls["quiet"])
    _done("autoencoder", controls, summary)


@click.command("train-reg")
@functools.partial(training_options, several=True)
@click.option("--variant", type=click.Choice(choices.VARIANT_NAMES), default="ac-regnet", show_default=True,
              help="Which loss terms to train with.")
@click.option("--ae-run", help="Frozen autoencoder (AE and AC variants): train-ae run directory or bundled "
                               "name, e.g. jsrt-ae.")
@click.option("--lambda-r", type=float, help="Weight of total variation (5e-5).")
@click.option("--lambda-ce", type=float, help="Weight of the mask cross-entropy (1).")
@click.option("--lambda-ae", type=float, help="Weight of the autoencoder code distance (0.1).")
@click.option("--lambda-fold", type=float,
              help="Weight of a penalty on folding, mean max(0, 0.1 - det J) (0: the paper; an extension).")
@click.option("--ce-form", type=click.Choice(choices.CE_FORMS),
              help="Cross-entropy as the original release computed it (default) or the textbook form.")
@click.option("--jit/--no-jit", "jit_compile", default=None, help="XLA-compile the training step.")
@click.option("--integration-steps", type=int,
              help="0 (the paper): the network predicts the displacement. N > 0 (extension): it predicts a "
                   "velocity field integrated by N scaling-and-squaring steps into a fold-free displacement.")
@augmentation_options("image (with its mask)")
@click.option("--init-from", "init_from",
              help="Start from a trained model's weights (run directory, weights file or bundled model name) "
                   "to fine-tune it or train it further; the optimizer starts afresh.")
def train_reg(variant, ae_run, init_from, **kwargs):
    """Stage two: train the registration network (VectorCNN).

    Example: acregnet train-reg --dataset jsrt --variant ac-regnet --ae-run jsrt-ae -o runs/jsrt-ac
    """
    from acregnet_cli.workflows.train import train_registration_run

    controls, overrides = split_training_arguments(kwargs)
    summary = train_registration_run(
        controls["dataset"], variant, ae_run, init_from, controls["data_dir"], controls["run_dir"],
        controls["config_file"], overrides, controls["strategy"], controls["cpu_devices"], controls["resume"],
        controls["overwrite"], not controls["quiet"])
    _done("registration network", controls, summary)


COMMANDS = (train_ae, train_reg)
