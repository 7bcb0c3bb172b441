"""``export``, ``measure`` and ``score``: masks in the field's formats, and what is read off them."""

from pathlib import Path

import click

from acregnet_cli.cli.common import POSITIVE, emit, json_option, overwrite_option

_sources = click.argument("masks", nargs=-1, required=True, type=click.Path(path_type=Path))
_output = click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
                       help="Output folder.")


def _structures(text):
    from acregnet_cli.anatomy import parse_structures

    return parse_structures(text) if text else None


_structures_option = click.option(
    "--structures", help="Which label value is which structure, e.g. 'right lung=2,left lung=1,heart=3' (default: "
                         "values 1-3 as JSRT's SCR masks; a single value holds both lungs, split by side).")


@click.command("export")
@_sources
@_output
@click.option("--format", "formats", multiple=True, type=click.Choice(["chexmask", "coco"]), default=("chexmask",),
              show_default=True, help="chexmask: chexmask.csv in the CheXmask database's layout (run-length masks, "
                                      "Dice RCA columns from a corpus folder); coco: coco.json, COCO compressed "
                                      "run-length masks (pycocotools). Repeatable.")
@_structures_option
@overwrite_option("Replace files already in OUTPUT.")
@json_option("Print what was written as JSON.")
def export_command(masks, output, formats, structures, overwrite, as_json):
    """Write MASKS (mask images, folders of them, a CheXmask table or a corpus output folder)
    as a CheXmask table and/or COCO run-length JSON.

    Example: acregnet export cxr14-masks/ -o exported --format chexmask --format coco
    """
    from acregnet_cli.workflows.masks import export_masks

    done = export_masks(list(masks), output, list(formats), _structures(structures), overwrite)
    emit(as_json, done, f"{done['masks']} mask(s) written to " + ", ".join(done["files"]))


@click.command("measure")
@_sources
@_output
@click.option("--spacing", type=POSITIVE, help="Pixel size in mm (default: lengths and areas in pixels).")
@_structures_option
@click.option("--figures", is_flag=True, help="Also write <name>_measures.png: where each width was measured.")
@overwrite_option("Replace measures.csv.")
@json_option("Print the summary as JSON.")
def measure_command(masks, output, spacing, structures, figures, overwrite, as_json):
    """Areas, thoracic and heart widths, cardiothoracic ratio and lung heights of MASKS
    (mask images, folders, a CheXmask table or a corpus output folder), into measures.csv.

    Example: acregnet measure seg/ -o measures --spacing 0.35 --figures
    """
    from acregnet_cli.workflows.masks import measure_masks

    done = measure_masks(list(masks), output, spacing, _structures(structures), figures, overwrite)
    emit(as_json, done, f"{done['masks']} mask(s) measured: {done['file']}")


@click.command("score")
@_sources
@click.option("--reference", "references", multiple=True, required=True, type=click.Path(path_type=Path),
              help="Masks to score against (manual masks, a CheXmask table, ...), matched by file name. Repeatable.")
@_output
@click.option("--spacing", type=POSITIVE, help="Pixel size in mm for the Hausdorff distance (default: pixels).")
@_structures_option
@overwrite_option("Replace scores.csv.")
@json_option("Print the summary as JSON.")
def score_command(masks, references, output, spacing, structures, overwrite, as_json):
    """Dice and Hausdorff distance per structure of MASKS against --reference masks of the same images.

    Example: acregnet score cxr14-masks/ --reference ChestX-Ray8.csv -o compared
    """
    from acregnet_cli.workflows.masks import score_masks

    done = score_masks(list(masks), list(references), output, spacing, _structures(structures), overwrite)
    emit(as_json, done, lambda: f"{done['masks']} mask(s) scored into {done['file']}: mean Dice " + ", ".join(
        f"{key[5:]} {value:.4f}" for key, value in done["mean"].items() if key.startswith("dice_")))


COMMANDS = (export_command, measure_command, score_command)
