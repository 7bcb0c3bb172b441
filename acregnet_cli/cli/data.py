"""``preprocess``, ``phantom``, ``demo`` and ``import-tf1``: data and models to start from."""

from pathlib import Path

import click

from acregnet_cli import options as choices
from acregnet_cli.cli.common import SEED, emit, json_option, model_option, progress


@click.command("preprocess")
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Data root to write (usable as --data-dir).")
@click.option("--layout", type=click.Choice(choices.LAYOUTS), help="Source layout (default: detected).")
@click.option("--sizes", default="256,64", show_default=True, help="Output sizes, comma separated.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the 60/20/20 split.")
@click.option("--split-dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Folder with train.txt/validation.txt/test.txt naming the subjects (instead of a seeded split).")
@click.option("--align-to", help="Align every image to this subject with a similarity transform (elastix).")
@click.option("--no-invert-img", is_flag=True, help="Keep raw JSRT .IMG values as stored (no inversion).")
@click.option("--overwrite", is_flag=True, help="Replace an earlier preprocessing in OUTPUT.")
@json_option("Print what was written as JSON.")
def preprocess_command(source, output, layout, sizes, seed, split_dir, align_to, no_invert_img, overwrite, as_json):
    """Convert a dataset as distributed (JSRT+SCR, Montgomery, Shenzhen) to the authors' layout.

    Example: acregnet preprocess JSRT-SCR/ -o mydata && acregnet train-ae --dataset mydata/jsrt.toml --data-dir mydata
    """
    from acregnet_cli.datasets.preprocess import parse_sizes, preprocess

    summary = preprocess(source, output, layout=layout, sizes=parse_sizes(sizes), seed=seed, split_dir=split_dir,
                         align_to=align_to, invert_img=not no_invert_img, overwrite=overwrite,
                         echo=progress(as_json))
    emit(as_json, summary, f"{summary['subjects']} subjects written to {output} ({summary['split']}); "
                           f"dataset: {summary['dataset_config']}")


@click.command("phantom")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the phantom dataset into.")
@click.option("-n", "--count", type=click.IntRange(2, 100000), default=10, show_default=True, help="Number of subjects.")
@click.option("--size", type=click.IntRange(32, 4096), default=256, show_default=True, help="Image size in pixels.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Random seed.")
@click.option("--overwrite", is_flag=True, help="Replace phantoms already in OUTPUT.")
@json_option("Print what was written as JSON.")
def phantom_command(output, count, size, seed, overwrite, as_json):
    """Write procedural chest radiograph phantoms with lung and heart masks.

    The folder holds a dataset in the authors' layout (usable with --dataset
    OUTPUT/phantom.toml --data-dir OUTPUT) and pairs.csv for register --pairs.

    Example: acregnet phantom -o phantoms -n 20
    """
    from acregnet_cli.datasets.phantom import write_phantom_dataset

    summary = write_phantom_dataset(output, count, size=size, seed=seed, overwrite=overwrite)
    emit(as_json, summary, f"{count} phantoms written to {output} (dataset: {summary['dataset_config']}, "
                           f"pairs: {summary['pairs']})")


@click.command("demo")
@click.option("-o", "--output", default="acregnet-demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for the demo's files.")
@model_option("Model to demonstrate (default: the bundled JSRT model).")
@click.option("--seed", type=SEED, default=1, show_default=True, help="Which phantom pair to draw.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier demo in OUTPUT.")
@json_option("Print the result as JSON.")
def demo_command(output, model, seed, overwrite, as_json):
    """Register a phantom pair with the bundled model and show the result.

    Writes the pair and its masks, the registration (warped image, field,
    warped mask), overlay.png and demo.json with the Dice before and after.

    Example: acregnet demo -o demo
    """
    from acregnet_cli.workflows.demo import run_demo

    summary = run_demo(output, model, seed=seed, overwrite=overwrite)
    emit(as_json, summary, f"demo written to {output}: Dice {summary['dice_before']:.3f} before, "
                           f"{summary['dice_after']:.3f} after registration (overlay: {summary['overlay']})")


@click.command("import-tf1")
@click.argument("checkpoint", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Model folder to write (usable as register --model).")
@click.option("--overwrite", is_flag=True, help="Replace a model already in OUTPUT.")
@json_option("Print what was imported as JSON.")
def import_tf1_command(checkpoint, output, overwrite, as_json):
    """Convert an original TensorFlow 1 checkpoint (VectorCNN or CNN_AE) into a model folder.

    CHECKPOINT is the prefix, e.g. .../model.ckpt (with model.ckpt.index beside it).

    Example: acregnet import-tf1 original/model.ckpt -o models/original-jsrt
    """
    from acregnet_cli.models.tf1 import import_tf1

    summary = import_tf1(checkpoint, output, overwrite=overwrite)
    emit(as_json, summary, f"imported {summary['architecture']} ({summary['variables']} variables) into {output}")


COMMANDS = (preprocess_command, phantom_command, demo_command, import_tf1_command)
