"""``register`` and ``merge``: pairs of images, one by one or from a table, and sharded tables."""

from pathlib import Path

import click

from acregnet_cli.cli.common import (
    INTENSITY,
    POSITIVE,
    emit,
    json_option,
    model_option,
    registration_options,
)


@click.command("register")
@click.argument("moving", required=False, type=click.Path(path_type=Path))
@click.argument("fixed", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: <moving>_to_<fixed>, or 'registered' with --pairs).")
@model_option("Registration model: bundled name, run directory or weights file (default: jsrt).")
@click.option("--mask", "moving_mask", type=click.Path(path_type=Path), help="Label map of the moving image to warp.")
@click.option("--fixed-mask", type=click.Path(path_type=Path),
              help="Label map of the fixed image: the warped --mask is scored against it (Dice, Hausdorff distance "
                   "per label, in summary.json).")
@click.option("--pairs", "pairs_file", type=click.Path(path_type=Path),
              help="CSV of pairs (columns moving, fixed[, moving_mask, fixed_mask, name]) registered in one process.")
@click.option("--spacing", type=POSITIVE,
              help="Pixel spacing written into the NIfTI field (default: the fixed DICOM's, else 1).")
@click.option("--max-side", type=click.IntRange(64, 65536), default=4096, show_default=True,
              help="Register larger images reduced by an integer factor (memory bound); outputs are still "
                   "written at the files' own sizes.")
@click.option("--reduced-outputs", is_flag=True, help="Write the outputs at the size registered, when --max-side "
                                                    "reduced an image (smaller, faster).")
@registration_options("resize", "batch_size", "engine", "passes", "mask_outside", "prealign")
@INTENSITY
@click.option("--shard", help="With --pairs: do only share I of N (I/N, 0-based); merge the tables with "
                             "`acregnet merge OUTPUT`.")
@click.option("--jacobian", is_flag=True, help="Also write jacobian.nii.gz and jacobian.png (folds black, outlined) "
                                             "and the determinant's minimum and folded regions in summary.json.")
@click.option("--figures", is_flag=True, help="Also write figure.png: images with masks outlined, checkerboard, "
                                            "differences before and after, the deformation grid, the Jacobian.")
@click.option("--nifti", is_flag=True, help="Also write warped.nii.gz and warped_mask.nii.gz with the fixed image's "
                                          "spacing, beside field.nii.gz (for ITK-SNAP, 3D Slicer).")
@click.option("--overwrite", is_flag=True, help="Replace existing outputs (otherwise done pairs are skipped).")
@json_option("Print the summaries as JSON on stdout.")
def register(moving, fixed, output, model, moving_mask, fixed_mask, pairs_file, spacing, max_side, reduced_outputs,
             options, intensity, shard, jacobian, figures, nifti, overwrite, as_json):
    """Register MOVING onto FIXED (or every pair of --pairs) with a trained model.

    Writes warped.png, field.npy (H, W, 2: rows, columns, pixels), field.nii.gz
    (ITK convention), warped_mask.png with --mask, and summary.json.

    Example: acregnet register moving.png fixed.png -o out --mask moving_mask.png
    """
    from acregnet_cli.workflows.register import register_files

    summaries = register_files(moving, fixed, output, model, options, moving_mask=moving_mask, pairs_file=pairs_file,
                               shard=shard, spacing=spacing, max_side=max_side, overwrite=overwrite, intensity=intensity,
                               echo=None if as_json else click.echo, fixed_mask=fixed_mask,
                               extras=[name for name, on in (("jacobian", jacobian), ("figures", figures),
                                                             ("reduced-outputs", reduced_outputs), ("nifti", nifti))
                                       if on])
    emit(as_json, summaries if pairs_file is not None else summaries[0], None)


@click.command("merge")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def merge_command(folder):
    """Join the tables written by sharded runs (register --pairs --shard, segment --shard) into one.

    Example: acregnet merge registered
    """
    from acregnet_cli.workflows.sharding import merge_tables

    for path in merge_tables(folder):
        click.echo(f"merged {path}")


COMMANDS = (register, merge_command)
