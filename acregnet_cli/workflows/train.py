"""Files in, files out for ``train-ae`` and ``train-reg``: data, settings, training, summary.

Both stages share one body (:func:`_train`): load the dataset, resolve settings,
make the distribution strategy, train, and let the chief write ``summary.json``.
"""

from pathlib import Path

import contextlib

from acregnet_cli import runtime
from acregnet_cli.errors import InputError


# Settings a resumed run may change: when it stops, checkpoints and logs.
RUN_CONTROLS = ("iterations", "checkpoint_every", "log_every")


def dataset_names(dataset):
    """The datasets of ``--dataset``: one name or TOML file, or several joined by commas.

    Examples
    --------
    >>> dataset_names("jsrt, montgomery,shenzhen")
    ['jsrt', 'montgomery', 'shenzhen']
    """
    names = [name.strip() for name in str(dataset).split(",")]
    if not all(names) or len(set(names)) != len(names):
        raise InputError(f"--dataset {dataset!r}: give dataset names or files, each once, joined by commas")
    return names


class Several:
    """Several datasets trained together: their name joined by '+' (the run's default
    folder and its record), the configurations in ``configs``."""

    def __init__(self, configs):
        self.configs = configs
        self.name = "+".join(config.name for config in configs)
        self.num_classes = [config.num_classes for config in configs]


def resumed_settings(stage, run_dir, config_file, overrides):
    """The settings a resumed run continues with: those its ``config.toml`` recorded.

    A setting given again (on the command line or in ``config_file``) must equal the
    recorded one; otherwise the run would silently change under its own record. The
    exceptions change how the run goes, not what it learns: ``iterations`` (a larger count
    extends the run), ``checkpoint_every`` and ``log_every``; they are recorded.
    """
    from acregnet_cli.datasets.config import (
        load_training_settings,
        merge_settings,
        read_toml,
    )

    recorded_path = Path(run_dir) / "config.toml"
    if not recorded_path.is_file():
        raise InputError(f"{run_dir}: nothing to resume (no config.toml)")
    recorded = read_toml(recorded_path)
    defaults = load_training_settings(stage)
    settings = merge_settings(defaults, {k: v for k, v in recorded.items() if k in defaults}, str(recorded_path))
    given = dict(read_toml(config_file)) if config_file is not None else {}
    given.update({k: v for k, v in overrides.items() if v is not None})
    merge_settings(defaults, given, "command-line option")  # types and ranges of what was given
    for key in RUN_CONTROLS:
        if key in given:
            settings[key] = given.pop(key)
    for key, value in given.items():
        if key in settings and value != settings[key]:
            raise InputError(f"--{key.replace('_', '-')} {value!r} differs from the resumed run's {settings[key]!r} "
                             f"({recorded_path}); a resumed run continues as recorded")
    return settings


def _undo_failed_start(run_dir, before):
    """After a run that failed before its first checkpoint, remove what its start wrote
    (config.toml, log.csv; the folder itself goes with the lock if it was made), so that the corrected
    command is not refused for a non-empty run directory. A run that checkpointed keeps
    everything: ``--resume`` continues it."""
    import shutil

    checkpoints = run_dir / "checkpoints"
    if not run_dir.is_dir() or (checkpoints.is_dir() and any(checkpoints.iterdir())):
        return
    for path in set(run_dir.iterdir()) - before:
        if not path.name.endswith(".lock"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()


def _train(stage, dataset, data_dir, run_dir, config_file, overrides, strategy, cpu_devices, default_run, trainer,
           summarize, resume=False):
    from acregnet_cli.datasets.config import (
        load_dataset_config,
        load_training_settings,
        resolve_data_root,
    )
    from acregnet_cli.datasets.layout import carve_validation, load_split

    configs = [load_dataset_config(name) for name in dataset_names(dataset)]
    if len(configs) > 1 and stage != "train_reg":
        raise InputError(f"--dataset {dataset}: train-ae takes one dataset")
    config = configs[0] if len(configs) == 1 else Several(configs)
    run_dir = Path(run_dir) if run_dir else Path("runs") / default_run(config)
    if resume:
        settings = resumed_settings(stage, run_dir, config_file, overrides)
    else:
        settings = load_training_settings(stage, config_file, **overrides)
    root = resolve_data_root(data_dir)
    parts = [carve_validation(load_split(one, root, "train", settings["size"]), settings["validation_fraction"],
                              settings["seed"]) for one in configs]
    train, validation = ([part[k] for part in parts] for k in (0, 1))
    if len(configs) == 1:
        train, validation = train[0], validation[0]
    runtime.import_tensorflow()
    from acregnet_cli.io.atomic import folder_lock
    from acregnet_cli.training.distribute import make_strategy, worker_identity

    distribution = make_strategy(strategy, cpu_devices)
    # One process trains into a run directory at a time; the workers of a multi-worker
    # run share it by design (only the chief writes there).
    hold = folder_lock(run_dir) if strategy != "multi-worker" else contextlib.nullcontext()
    with hold:
        before = {p for p in run_dir.iterdir() if not p.name.endswith(".lock")} if run_dir.is_dir() else set()
        try:
            outcome = trainer(settings, config, train, run_dir, distribution)
        except BaseException:
            if not resume:
                _undo_failed_start(run_dir, before)
            raise
        if not worker_identity(distribution)[0]:
            return None  # only the chief writes the run directory
        return _summarize_run(outcome, run_dir, config, strategy, distribution, train, validation, summarize)


def _summarize_run(outcome, run_dir, config, strategy, distribution, train, validation, summarize):
    from acregnet_cli.io.atomic import write_json_atomic

    summary = dict(outcome, run_dir=str(run_dir), dataset=config.name, strategy=strategy,
                   replicas=distribution.num_replicas_in_sync,
                   seconds_per_iteration=outcome["seconds"] / max(1, outcome["iterations"] - outcome["resumed_from"]))
    summarize(summary, run_dir, config, train, validation)
    write_json_atomic(run_dir / "summary.json", summary)
    return summary


def train_autoencoder_run(dataset, data_dir=None, run_dir=None, config_file=None, overrides=None, strategy="default",
                          cpu_devices=None, resume=False, overwrite=False, progress=True):
    """Stage one: train the mask autoencoder into ``run_dir`` (default ``runs/<dataset>-ae``).

    ``overrides`` are settings given on the command line (None: not given).
    Returns the run's summary (None on a worker that is not the chief).
    """
    def trainer(settings, config, train, run_dir, distribution):
        from acregnet_cli.training import train_autoencoder

        extra = {"dataset": config.name, "label_values": list(config.label_values)}
        return train_autoencoder(train, config.num_classes, settings, run_dir, resume=resume, overwrite=overwrite,
                                 progress=progress, extra=extra, strategy=distribution)

    def summarize(summary, run_dir, config, train, validation):
        from acregnet_cli.models.files import load_autoencoder
        from acregnet_cli.training import evaluate_autoencoder

        encoder, decoder, _ = load_autoencoder(run_dir)
        for name, part in (("train", train), ("validation", validation)):
            if part is not None:
                dice = evaluate_autoencoder(encoder, decoder, part, config.num_classes)
                summary[f"{name}_reconstruction_dice"] = dict(zip(config.class_names[1:], map(float, dice)))

    return _train("train_ae", dataset, data_dir, run_dir, config_file, overrides or {}, strategy, cpu_devices,
                  lambda config: f"{config.name}-ae", trainer, summarize, resume)


def train_registration_run(dataset, variant="ac-regnet", ae_run=None, init_from=None, data_dir=None, run_dir=None,
                           config_file=None, overrides=None, strategy="default", cpu_devices=None, resume=False,
                           overwrite=False, progress=True):
    """Stage two: train a registration network into ``run_dir`` (default ``runs/<dataset>-<variant>``).

    ``ae_run`` and ``init_from`` take anything :func:`~acregnet_cli.models.load_model`
    takes (a bundled name such as ``jsrt-ae``, a run directory, a weights file).
    Returns the run's summary (None on a worker that is not the chief).
    """
    from acregnet_cli.models import load_model

    ae_path = load_model(ae_run, kind="autoencoder").path if ae_run is not None else None
    init_path = load_model(init_from, kind="registration").path if init_from is not None else None

    def trainer(settings, config, train, run_dir, distribution):
        from acregnet_cli.training import train_registration

        return train_registration(train, config.num_classes, settings, variant, run_dir, ae_run=ae_path,
                                  resume=resume, overwrite=overwrite, progress=progress,
                                  extra={"dataset": config.name}, strategy=distribution, init_from=init_path)

    def summarize(summary, run_dir, config, train, validation):
        summary["variant"] = variant
        if isinstance(config, Several):
            scores = {one.name: validation_scores(run_dir, part, one)
                      for one, part in zip(config.configs, validation) if part is not None}
            if scores:
                summary["validation"] = scores
        elif validation is not None:
            summary["validation"] = validation_scores(run_dir, validation, config)

    return _train("train_reg", dataset, data_dir, run_dir, config_file, overrides or {}, strategy, cpu_devices,
                  lambda config: f"{config.name}-{variant}", trainer, summarize, resume)


def validation_scores(run_dir, validation, config, pairs=64, seed=0):
    """Mean Dice before and after registration on random validation pairs at training size."""
    import numpy as np

    from acregnet_cli.metrics import mean_dice
    from acregnet_cli.options import RegistrationOptions
    from acregnet_cli.registration import make_registrar

    registrar = make_registrar(run_dir, RegistrationOptions(engine="tensorflow"))
    rng = np.random.RandomState(seed)
    moving_idx = rng.choice(len(validation), pairs)
    fixed_idx = rng.choice(len(validation), pairs)
    jobs = [(validation.images[m], validation.images[f], validation.labels[m]) for m, f in zip(moving_idx, fixed_idx)]
    results = registrar.register_many(jobs)
    classes = range(1, config.num_classes)
    before, after = [], []
    for (m, f), result in zip(zip(moving_idx, fixed_idx), results):
        before.append(mean_dice(validation.labels[m], validation.labels[f], classes))
        after.append(mean_dice(result.warped_mask, validation.labels[f], classes))
    return {"pairs": pairs, "dice_before": float(np.mean(before)), "dice_after": float(np.mean(after))}
