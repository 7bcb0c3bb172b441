"""Files in, files out for ``acregnet evaluate``: methods by name, the dataset by name."""

from acregnet_cli import runtime


def evaluate_files(dataset, method_specs, outdir, data_dir=None, shard=(0, 1), merge_only=False, **settings):
    """Run the paper's Table 1 protocol on ``dataset`` for methods given as text.

    ``method_specs`` are ``identity``, ``elastix`` or ``NAME=RUN[,option=value...]``
    (see :func:`acregnet_cli.evaluation.protocol.parse_method`); the other settings are
    those of :func:`acregnet_cli.evaluation.protocol.evaluate`.

    Returns
    -------
    dict : the evaluation's summary.
    """
    from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
    from acregnet_cli.evaluation import evaluate, parse_methods

    methods = parse_methods(method_specs)
    config = load_dataset_config(dataset)
    root = resolve_data_root(data_dir)
    if any(method.kind == "model" for method in methods) and not merge_only:
        runtime.import_tensorflow()
    return evaluate(config, root, methods, outdir, shard=shard, merge_only=merge_only, **settings)
