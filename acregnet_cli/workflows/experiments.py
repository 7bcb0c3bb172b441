"""Files in, files out for ``acregnet experiment``: the paper's Section 5 studies."""

from pathlib import Path

from acregnet_cli import runtime
from acregnet_cli.errors import InputError


def refuse_earlier_report(output, names, overwrite):
    """Fail before any work if OUTPUT holds one of a report's files and ``overwrite`` is not given."""
    earlier = [name for name in names if (Path(output) / name).exists()]
    if earlier and not overwrite:
        raise InputError(f"{output}: holds {', '.join(earlier)} already (use --overwrite to replace)")


def run_plausibility(dataset, ae_run, output, data_dir=None, masks=20, pixels=120, seed=0, overwrite=False):
    """Section 5.1: cross-entropy vs autoencoder loss for plausible and implausible mask changes.

    Writes plausibility.{csv,md,png} into ``output``; returns the key figures.
    """
    refuse_earlier_report(output, ("plausibility.csv", "plausibility.md", "plausibility.png"), overwrite)
    from acregnet_cli.models import load_model

    model = load_model(ae_run, kind="autoencoder")
    runtime.import_tensorflow()
    from acregnet_cli.applications.experiments import (
        modifications_for,
        plausibility,
        write_plausibility_report,
    )
    from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
    from acregnet_cli.datasets.layout import load_split

    config = load_dataset_config(dataset)
    try:
        modifications = modifications_for(config.class_names)
    except ValueError as exc:
        raise InputError(f"{config.name}: {exc}") from None
    encoder, _ = model.autoencoder()
    test = load_split(config, resolve_data_root(data_dir), "test", model.size)
    try:
        rows = plausibility(test.labels[:masks], encoder, config.num_classes, pixels=pixels, seed=seed,
                            modifications=modifications)
    except ValueError as exc:
        raise InputError(f"{config.name} test masks: {exc}") from None
    summary = write_plausibility_report(rows, output, f"{config.name}: {min(masks, len(test))} test masks, "
                                                      f"{pixels} pixels changed")
    ae = {name: values["ae"][0] for name, values in summary.items()}
    ce = {name: values["ce_release"][0] for name, values in summary.items()}
    return {"ae_loss": ae, "cross_entropy": ce,
            "cross_entropy_equal": bool(max(ce.values()) - min(ce.values()) < 1e-6),
            "erosion_lowest_ae": min(ae, key=ae.get) == "erosion", "output": str(output)}


def run_codes(dataset, ae_run, output, data_dir=None, folds=20, components=32, seed=0, overwrite=False):
    """Representation study: diagnosis from PCA of the masks vs the autoencoder code.

    Writes codes.json into ``output`` and returns its contents.
    """
    refuse_earlier_report(output, ("codes.json",), overwrite)
    from acregnet_cli.models import load_model

    model = load_model(ae_run, kind="autoencoder")
    runtime.import_tensorflow()
    import numpy as np

    from acregnet_cli.applications.experiments import (
        diagnosis_from_name,
        representation_study,
    )
    from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
    from acregnet_cli.datasets.layout import load_split
    from acregnet_cli.io.atomic import write_json_atomic

    config = load_dataset_config(dataset)
    encoder, _ = model.autoencoder()
    num_classes = model.description["num_classes"]
    if num_classes != config.num_classes:
        raise InputError(f"{ae_run}: autoencoder has {num_classes} classes, {config.name} {config.num_classes}")
    root = resolve_data_root(data_dir)
    splits = [load_split(config, root, fold, model.size) for fold in ("train", "test")]
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
    return results
