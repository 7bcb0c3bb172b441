"""``experiment plausibility`` and ``experiment codes``: the paper's Section 5 studies."""

from pathlib import Path

import click

from acregnet_cli.cli.common import SEED, dataset_options, emit, json_option


@click.group("experiment")
def experiment():
    """Experiments of the paper's Section 5 on the learnt anatomical representation."""


@experiment.command("plausibility")
@dataset_options
@click.option("--ae-run", required=True, help="Autoencoder: train-ae run directory or bundled name (e.g. jsrt-ae).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for plausibility.{csv,md,png}.")
@click.option("-n", "--masks", type=click.IntRange(1), default=20, show_default=True, help="Test masks to modify.")
@click.option("--pixels", type=click.IntRange(1), default=120, show_default=True, help="Pixels changed by every modification.")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the modifications.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier report in OUTPUT.")
@json_option("Print the summary as JSON.")
def plausibility_command(dataset, data_dir, ae_run, output, masks, pixels, seed, overwrite, as_json):
    """Section 5.1: cross-entropy vs autoencoder loss for plausible and implausible mask changes.

    Example: acregnet experiment plausibility --dataset jsrt --ae-run jsrt-ae -o plausibility
    """
    from acregnet_cli.workflows.experiments import run_plausibility

    result = run_plausibility(dataset, ae_run, output, data_dir, masks=masks, pixels=pixels, seed=seed,
                              overwrite=overwrite)

    def text():
        lines = [f"{name:18s} cross-entropy {result['cross_entropy'][name]:.4f}  autoencoder loss {loss:.4f}"
                 for name, loss in result["ae_loss"].items()]
        holds = result["cross_entropy_equal"] and result["erosion_lowest_ae"]
        lines.append("expected outcome (equal cross-entropy, lowest autoencoder loss for erosion): "
                     f"{'holds' if holds else 'does not hold'}")
        return "\n".join(lines)

    emit(as_json, result, text)


@experiment.command("codes")
@dataset_options
@click.option("--ae-run", required=True, help="Autoencoder of the same dataset: train-ae run directory or bundled name.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for codes.json.")
@click.option("--folds", type=click.IntRange(2), default=20, show_default=True, help="Cross-validation folds.")
@click.option("--components", type=click.IntRange(1), default=32, show_default=True, help="PCA components (the code's length).")
@click.option("--seed", type=SEED, default=0, show_default=True, help="Seed of the folds and the balanced set.")
@click.option("--overwrite", is_flag=True, help="Replace an earlier codes.json in OUTPUT.")
@json_option("Print the results as JSON.")
def codes_command(dataset, data_dir, ae_run, output, folds, components, seed, overwrite, as_json):
    """Representation study: diagnosis from PCA of the masks vs the autoencoder code (SVM, k-fold CV).

    Labels come from the file names (Montgomery/Shenzhen *_1 tuberculosis vs *_0
    normal; JSRT JPCLN nodule vs JPCNN none), on a balanced set of all the masks.

    Example: acregnet experiment codes --dataset shenzhen --ae-run shenzhen-ae -o codes
    """
    from acregnet_cli.workflows.experiments import run_codes

    results = run_codes(dataset, ae_run, output, data_dir, folds=folds, components=components, seed=seed,
                        overwrite=overwrite)

    def text():
        lines = [f"{name:12s} accuracy {results[name]['accuracy_mean']:.3f} ({results[name]['accuracy_std']:.3f})"
                 for name in ("pca", "autoencoder")]
        lines.append(f"balanced set of {results['balanced_set']} masks, {folds}-fold cross-validation")
        return "\n".join(lines)

    emit(as_json, results, text)


COMMANDS = (experiment,)
