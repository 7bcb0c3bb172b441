"""``warp``, ``invert``, ``compose``: what to do with a field after ``register``."""

from pathlib import Path

import click

from acregnet_cli.cli.common import emit, json_option, progress
from acregnet_cli.errors import InputError

# A field is named the same way in every command's help: said in each docstring, since a
# docstring built by concatenation is no docstring (``__doc__`` None, help left blank).
_jacobian_option = click.option("--jacobian", is_flag=True,
                                help="Also write the field's Jacobian determinant: jacobian.nii.gz and jacobian.png "
                                     "(folds black, outlined), with its minimum and folded regions in the summary.")
_output_option = click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
                              help="Output folder.")
_overwrite_option = click.option("--overwrite", is_flag=True, help="Replace outputs already there.")


@click.command("warp")
@click.argument("field", type=click.Path(path_type=Path))
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@_output_option
@click.option("--labels", is_flag=True, help="The inputs are label maps: warp them label-safely, as register --mask.")
@click.option("--mask", "masks", multiple=True, type=click.Path(path_type=Path),
              help="A label map to warp label-safely beside the INPUT images (repeatable).")
@click.option("--points", type=click.Path(path_type=Path),
              help="CSV of landmarks (columns x, y in pixels) to map; written as OUTPUT/<name>.csv.")
@click.option("--direction", type=click.Choice(["fixed-to-moving", "moving-to-fixed"]), default="fixed-to-moving",
              show_default=True, help="For --points: fixed-image points to where they sample the moving image "
                                      "(the field), or moving-image points to the fixed image (the inverse).")
@click.option("--reference-points", type=click.Path(path_type=Path),
              help="For --points: where the points truly are in the other image (CSV x, y; matched by a name column, "
                   "else by row): the target registration error per point and its summary.")
@_jacobian_option
@_overwrite_option
@json_option("Print what was written as JSON.")
def warp_command(field, inputs, output, labels, masks, points, direction, reference_points, jacobian, overwrite,
                 as_json):
    """Warp INPUT images (or label maps, or --points) by FIELD: a register/invert/compose
    output folder, field.npy or a NIfTI field.

    Example: acregnet warp out/ other_view.png -o warped && acregnet warp out/ heart.png --labels -o warped
    """
    from acregnet_cli.workflows.fields import warp_files
    from acregnet_cli.workflows.points import map_point_files

    done = []
    if points is not None:
        done.append(map_point_files(field, points, output, direction, overwrite, reference_points))
    elif reference_points is not None:
        raise InputError("--reference-points goes with --points")
    if inputs or masks or jacobian or points is None:
        done += warp_files(field, list(inputs), output, labels=labels, overwrite=overwrite,
                           echo=progress(as_json), jacobian=jacobian, masks=list(masks))
    tre = next((item for item in done if "tre_mean_px" in item), None)
    emit(as_json, done, f"{len(done)} file(s) written into {output}" + (
        f"; target registration error mean {tre['tre_mean_px']:.2f} px, max {tre['tre_max_px']:.2f} px "
        f"(no deformation: {tre['initial_mean_px']:.2f} px)" if tre else ""))


@click.command("invert")
@click.argument("field", type=click.Path(path_type=Path))
@_output_option
@click.option("--iterations", type=click.IntRange(1, 1000), default=30, show_default=True,
              help="Newton steps at most (fields not from a velocity-field model).")
@_jacobian_option
@_overwrite_option
@json_option("Print the summary as JSON.")
def invert_command(field, output, iterations, jacobian, overwrite, as_json):
    """Write the inverse of FIELD (a register/invert/compose output folder, field.npy or a
    NIfTI field) and how well it inverts.

    A velocity-field model's register folder is inverted exactly (its negated velocity,
    integrated); any other field by Newton's method. The residual of composing the two
    is reported (mean, 95th percentile, max, in pixels) where an inverse exists.

    Example: acregnet invert out/ -o out-inverse
    """
    from acregnet_cli.workflows.fields import invert_files

    summary = invert_files(field, output, iterations=iterations, jacobian=jacobian, overwrite=overwrite)
    emit(as_json, summary, lambda: _inverse_line(summary, output))


def _inverse_line(summary, output):
    if summary["residual_mean_px"] is None:
        # Every position maps outside the image: the inverse is written, but nothing checks it.
        return (f"inverse ({summary['method']}) in {output}: no pixel has an inverse inside the image "
                f"({100 * (1 - summary['reached_fraction']):.2f}% not reached), so no residual")
    return (f"inverse ({summary['method']}) in {output}: residual mean {summary['residual_mean_px']:.4f} px, "
            f"p95 {summary['residual_p95_px']:.4f}, max {summary['residual_max_px']:.3f} over "
            f"{100 * summary['evaluated_fraction']:.1f}% of pixels ({100 * summary['folded_fraction']:.2f}% folded, "
            f"{100 * (1 - summary['reached_fraction']):.2f}% not reached)")


@click.command("compose")
@click.argument("first", type=click.Path(path_type=Path))
@click.argument("second", type=click.Path(path_type=Path))
@_output_option
@_jacobian_option
@_overwrite_option
@json_option("Print the summary as JSON.")
def compose_command(first, second, output, jacobian, overwrite, as_json):
    """Write the field that warps as FIRST and then SECOND do (each a register/invert/compose
    output folder, field.npy or a NIfTI field).

    Example: acregnet compose a_to_b/ b_to_c/ -o a_to_c
    """
    from acregnet_cli.workflows.fields import compose_files

    summary = compose_files(first, second, output, jacobian=jacobian, overwrite=overwrite)
    emit(as_json, summary, f"composed field in {output} (jacobian<=0: "
                           f"{100 * summary['jacobian_nonpositive_fraction']:.2f}%)")


COMMANDS = (warp_command, invert_command, compose_command)
