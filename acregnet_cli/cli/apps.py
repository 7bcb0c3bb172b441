"""``segment`` and ``qc``: the paper's applications, multi-atlas segmentation and quality control."""

from pathlib import Path

import click

from acregnet_cli import options as choices
from acregnet_cli.cli.common import (
    FRACTION,
    FiniteFloat,
    INTENSITY,
    emit,
    json_option,
    model_option,
    progress,
    registration_options,
)


@click.command("segment")
@click.argument("targets", nargs=-1, type=click.Path(path_type=Path))
@click.option("--atlases", required=True,
              help="Atlas folder (images/ and labels/ with the same names) or DATASET:FOLD, e.g. jsrt:train.")
@click.option("--targets-from", help="Segment a dataset fold instead of TARGET files, e.g. jsrt:test "
                                     "(scores against its masks are reported).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Data root for DATASET:FOLD (default: $ACREGNET_DATA).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder for masks, overlays and segmentation.csv.")
@click.option("--k", "k", type=click.IntRange(1, 1000), default=5, show_default=True, help="Atlases per target (highest NCC).")
@click.option("--fusion", type=click.Choice(choices.FUSIONS), default="majority", show_default=True,
              help="Label fusion: majority vote, or vote weighted by local NCC.")
@model_option()
@click.option("--no-overlay", is_flag=True, help="Do not draw overlay PNGs.")
@registration_options("passes", "mask_outside", "prealign")
@INTENSITY
@click.option("--framing", type=click.Choice(["align", "field-of-view", "none"]), default="align",
              show_default=True,
              help="What of each target (and atlas) is registered: align (its field of view, and a target framed "
                   "unlike the atlases, as a tight crop, zoom, rotation or stretch, resampled into their frame as "
                   "corpus does), its field of view (uniform bands along the edges cut off; the mask is background "
                   "there) or the whole frame (none).")
@click.option("--shard", help="Do only share I of N of the targets (I/N, 0-based); merge with `acregnet merge OUTPUT`.")
@click.option("--overwrite", is_flag=True, help="Redo targets already segmented in OUTPUT.")
@json_option("Print the summary as JSON.")
def segment_command(targets, atlases, targets_from, data_dir, output, k, fusion, model, no_overlay, options,
                    intensity, framing, shard, overwrite, as_json):
    """Multi-atlas segmentation: register the k most similar atlases onto each target and fuse their masks.

    Example: acregnet segment new1.png new2.png --atlases atlas_dir -o masks --k 5
    """
    from acregnet_cli.errors import InputError
    from acregnet_cli.workflows.segment import run_segmentation
    from acregnet_cli.workflows.sharding import parse_shard

    if bool(targets) == bool(targets_from):
        raise InputError("give TARGET image files or --targets-from DATASET:FOLD (one of the two)")
    summary = run_segmentation(list(targets), atlases, targets_from, data_dir, output, model, k=k, fusion=fusion,
                               overlay=not no_overlay, overwrite=overwrite, echo=progress(as_json),
                               shard=parse_shard(shard), options=options, intensity=intensity, framing=framing)
    emit(as_json, summary, lambda: f"{summary['segmented']} target(s) segmented into {output}" + (
        f"; mean Dice {summary['mean_dice']:.3f}" if summary.get("mean_dice") is not None else ""))


@click.command("qc")
@click.argument("masks", nargs=-1, type=click.Path(path_type=Path))
@click.option("--images", "images", multiple=True, type=click.Path(path_type=Path),
              help="The image of each mask, in the same order (repeat the option, or give a folder "
                   "holding <name>.png for each <name>_mask.png / <name>.png).")
@click.option("--references", required=True,
              help="Reference images with ground truth: folder with images/ and labels/, or DATASET:FOLD.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Data root for DATASET:FOLD (default: $ACREGNET_DATA).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder for qc.csv, qc_histogram.png and summary.json.")
@click.option("--threshold", type=FRACTION, default=0.92, show_default=True, help="Accept masks with predicted Dice >= this.")
@click.option("--max-references", type=click.IntRange(1, 10000), default=20, show_default=True,
              help="Register onto this many references (those most similar to the image).")
@model_option()
@registration_options("passes", "mask_outside", "prealign")
@INTENSITY
@click.option("--framing", type=click.Choice(["field-of-view", "none"]), default="field-of-view", show_default=True,
              help="Cut each image and its mask, and the references, to their fields of view (uniform bands along "
                   "the edges off, as segment does) or register the whole frame (none).")
@click.option("--overwrite", is_flag=True, help="Check every mask again (otherwise masks in OUTPUT/qc.csv are kept).")
@json_option("Print the summary as JSON.")
def qc_command(masks, images, references, data_dir, output, threshold, max_references, model, options, intensity,
               framing, overwrite, as_json):
    """Quality control of segmentations by reverse classification accuracy.

    Each mask, with its image, is registered onto reference images with ground truth;
    the best Dice reached estimates its quality; masks under --threshold are flagged.

    Example: acregnet qc seg/*_mask.png --images imgs/ --references jsrt:train -o qc
    """
    from acregnet_cli.workflows.qc import run_qc

    summary, _ = run_qc(list(masks), list(images), references, data_dir, output, model, threshold=threshold,
                        max_references=max_references, echo=progress(as_json), options=options,
                        overwrite=overwrite, intensity=intensity, framing=framing)
    emit(as_json, summary, f"{summary['masks']} masks checked, {summary['rejected']} under {threshold}: "
                           f"{output}/qc.csv")


@click.command("corpus")
@click.argument("corpus", type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder: masks/ (the corpus's tree), corpus.csv, summary.json, figure4.png.")
@click.option("--atlases", default="jsrt:train", show_default=True,
              help="Atlas folder (images/ and labels/) or DATASET:FOLD.")
@click.option("--references", help="RCA references: folder or DATASET:FOLD (default: the atlases; 'none': no QC).")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Data root for DATASET:FOLD (default: $ACREGNET_DATA).")
@model_option()
@click.option("--k", "k", type=click.IntRange(1, 1000), default=5, show_default=True, help="Atlases per image.")
@click.option("--max-references", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="References per image for RCA (the most similar by NCC).")
@click.option("--threshold", type=FRACTION, default=0.92, show_default=True,
              help="Accept masks whose estimated Dice reaches this (the paper: 0.92).")
@click.option("--min-ncc", type=FiniteFloat(-1, 1), default=0.15, show_default=True,
              help="Record images whose best atlas NCC is below this as not chest radiographs (JSRT atlases: "
                   "real radiographs of three datasets 0.29 and up, noise images 0.05 at most).")
@click.option("--min-agreement", type=FiniteFloat(0, 1), default=0.90, show_default=True,
              help="Record images whose k warped atlases agree less than this (mean Dice with their fused mask) as "
                   "not chest radiographs: frontal radiographs of other hospitals and framings 0.875 and up (0.5% "
                   "under 0.909), photographs and CT or MR slices mostly below (experiments/views).")
@click.option("--batch-size", type=click.IntRange(1, 256), default=8, show_default=True,
              help="Images registered per network call.")
@click.option("--shard", help="Do only share I of N (I/N, 0-based); a run without --shard then merges.")
@click.option("--strict", is_flag=True, help="Exit 1 if any image failed or was not a chest radiograph.")
@registration_options("passes")
@INTENSITY
@click.option("--framing", type=click.Choice(choices.FRAMINGS), default="align", show_default=True,
              help="What of each image is segmented: align (its field of view, and where the atlases agree on a "
                   "global affine map, as for a tight crop, zoom, rotation or stretch, the image resampled into "
                   "their frame by it), field-of-view (uniform bands along the edges, such as padding, letterboxing "
                   "or a grey border, cut off; the mask is background there) or the whole frame (none).")
@json_option("Print the summary as JSON.")
def corpus_command(corpus, output, atlases, references, data_dir, model, k, max_references, threshold, min_ncc,
                   min_agreement, batch_size, shard, strict, options, intensity, framing, as_json):
    """Masks and RCA quality for every image under CORPUS (recursive; PNG, JPEG, TIFF, DICOM).

    Resumable (kill it, run it again) and shardable. Example: acregnet corpus cxr14/ -o cxr14-masks
    """
    from acregnet_cli.workflows.corpus import segment_corpus
    from acregnet_cli.workflows.sharding import parse_shard

    summary = segment_corpus(corpus, output, atlases, references, data_dir, model, k=k, max_references=max_references,
                             threshold=threshold, batch_size=batch_size, shard=parse_shard(shard), strict=strict,
                             min_ncc=min_ncc, echo=progress(as_json), options=options, intensity=intensity,
                             framing=framing, min_agreement=min_agreement)
    emit(as_json, summary, lambda: f"{summary['ok']} of {summary['images']} image(s) segmented into {output}; "
                                   f"{summary['accepted']} accepted at {threshold:g}")


COMMANDS = (segment_command, qc_command, corpus_command)
