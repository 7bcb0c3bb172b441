"""``evaluate``: the paper's Table 1 protocol on a test fold."""

from pathlib import Path

import click

from acregnet_cli.cli.common import SEED, emit, json_option


@click.command("evaluate")
@click.option("--dataset", required=True, help="Dataset name (jsrt, montgomery, shenzhen) or a dataset TOML file.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Data root (default: $ACREGNET_DATA).")
@click.option("--method", "method_specs", multiple=True, required=True, metavar="METHOD",
              help="identity, elastix, or NAME=RUN[,passes=P][,outside=edge|background][,prealign=affine|"
                   "similarity] (a train-reg run directory, weights file or bundled model; P network passes, "
                   "default 1; outside: the warped mask where the field samples outside the moving image, the "
                   "border label (edge, the paper's protocol) or background; prealign: a global transform "
                   "fitted before the network, an extension); repeat for several.")
@click.option("-o", "--output", "outdir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (results cached there are reused by a rerun).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the random test pairs.")
@click.option("--jobs", type=click.IntRange(1, 256), default=1, show_default=True, help="Elastix worker processes.")
@click.option("--pairs-limit", type=click.IntRange(1), help="Evaluate only the first K of the 2N pairs (quick runs).")
@click.option("--figure-pairs", type=click.IntRange(0, 100), default=3, show_default=True,
              help="Pairs shown in figure_pairs.png (0: no figure).")
@click.option("--batch-size", type=click.IntRange(1, 4096), default=32, show_default=True,
              help="Pairs per network call.")
@click.option("--shard", help="Do only pairs I mod N (I/N, 0-based) and write no tables; a later run without "
                             "--shard merges the shards' results.")
@click.option("--merge-only", is_flag=True, help="Register nothing: write the tables from the shards' results, or fail "
                                                 "naming what is missing.")
@click.option("--overwrite", is_flag=True, help="Discard results cached in the output folder first.")
@click.option("--quiet", is_flag=True, help="No progress lines on standard error.")
@json_option("Print summary.json on stdout.")
def evaluate(dataset, data_dir, method_specs, outdir, seed, jobs, pairs_limit, figure_pairs, batch_size, shard,
             merge_only, overwrite, quiet, as_json):
    """Evaluate registration methods as in the paper's Table 1.

    Draws 2N random (moving, fixed) pairs from the N test images at 256x256
    (numpy RandomState(seed)), warps each moving mask with every method, and
    scores it against the fixed mask: Dice, Hausdorff distance and average
    symmetric surface distance per class, averaged over the classes, in mm
    (Shenzhen: original pixels). Writes pairs.csv, summary.{csv,md,tex},
    Wilcoxon tests with Bonferroni correction, box plots, a figure of a few
    pairs and summary.json to OUTPUT.

    Several workers (machines sharing OUTPUT, or one machine's processes) split
    the pairs with --shard I/N; then a run without --shard (--merge-only to
    register nothing) writes the tables from their cached results.

    Example: acregnet evaluate --dataset jsrt --method ac=jsrt --method elastix --method identity -o eval
    """
    from acregnet_cli.workflows.evaluate import evaluate_files
    from acregnet_cli.workflows.sharding import parse_shard

    shard_spec = parse_shard(shard)
    summary = evaluate_files(dataset, method_specs, outdir, data_dir=data_dir, seed=seed, jobs=jobs,
                             pairs_limit=pairs_limit, figure_pairs=figure_pairs, batch_size=batch_size, shard=shard_spec,
                             merge_only=merge_only, overwrite=overwrite,
                             progress=None if quiet else (lambda text: click.echo(text, err=True)))
    if as_json or shard_spec[1] > 1:
        emit(as_json, summary, f"shard {shard_spec[0]}/{shard_spec[1]} done: {outdir}")
    else:
        click.echo((Path(outdir) / "summary.md").read_text(), nl=False)
        click.echo(f"\nresults: {outdir}")


COMMANDS = (evaluate,)
