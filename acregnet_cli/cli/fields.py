"""``warp``: a field that ``register`` saved, applied to other images and label maps."""

from pathlib import Path

import click

from acregnet_cli.cli.common import emit, json_option, progress


@click.command("warp")
@click.argument("field", type=click.Path(path_type=Path))
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the warped files (<input name>.png).")
@click.option("--labels", is_flag=True, help="The inputs are label maps: warp them label-safely, as register --mask.")
@click.option("--overwrite", is_flag=True, help="Replace warped files already in OUTPUT.")
@json_option("Print what was written as JSON.")
def warp_command(field, inputs, output, labels, overwrite, as_json):
    """Warp INPUT images (or label maps) by FIELD: a register output folder, field.npy or a NIfTI field.

    Example: acregnet warp out/ other_view.png -o warped && acregnet warp out/ heart.png --labels -o warped
    """
    from acregnet_cli.workflows.fields import warp_files

    done = warp_files(field, list(inputs), output, labels=labels, overwrite=overwrite, echo=progress(as_json))
    emit(as_json, done, f"{len(done)} file(s) warped into {output}")


COMMANDS = (warp_command,)
