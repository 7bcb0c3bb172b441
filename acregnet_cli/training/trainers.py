"""Two-stage training: the mask autoencoder, then the registration network.

Both loops keep the data in memory as tensors, draw every batch inside one
compiled ``tf.function`` step (no Python work per sample), log the loss terms to
``log.csv`` and save ``tf.train`` checkpoints of the model, the optimizer and the
sampler so that ``resume=True`` continues where an interrupted run stopped.
"""

import csv
import io
import math
import sys
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from acregnet_cli.tf import sampling as generators
from acregnet_cli.tf import losses
from acregnet_cli.errors import InputError
from acregnet_cli.io.images import write_text_atomic
from acregnet_cli.tf.layers import warp_bilinear
from acregnet_cli.metrics import class_dice
from acregnet_cli.models.files import (integration_steps, load_autoencoder, load_weights_into, save_weights_atomic,
                         vector_cnn_weights, write_model_json, write_settings)
from acregnet_cli.tf.networks import mask_autoencoder, vector_cnn

VARIANTS = {
    # variant: (uses cross-entropy, uses autoencoder)
    "regnet": (False, False),
    "ce-regnet": (True, False),
    "ae-regnet": (False, True),
    "ac-regnet": (True, True),
}


LR_SCHEDULES = ("constant", "cosine", "step")


def learning_rate_schedule(settings):
    """Adam's learning rate from the settings: a number, or a Keras schedule of the iteration.

    Parameters
    ----------
    settings : dict
        ``learning_rate``, ``iterations`` and optionally ``lr_schedule`` (one of
        :data:`LR_SCHEDULES`, default ``'constant'``) and ``final_lr_fraction``
        (0.1): the share of ``learning_rate`` reached at the end (``'cosine'``) or
        used for the last third of the run (``'step'``).

    Returns
    -------
    float or keras.optimizers.schedules.LearningRateSchedule
        Schedules read the optimizer's iteration count, which checkpoints hold, so
        a resumed run continues on the same curve.
    """
    schedule = settings.get("lr_schedule", "constant")
    base = float(settings["learning_rate"])
    fraction = float(settings.get("final_lr_fraction", 0.1))
    if schedule not in LR_SCHEDULES:
        raise InputError(f"lr_schedule {schedule!r}: expected one of {', '.join(LR_SCHEDULES)}")
    if not 0.0 < fraction <= 1.0:
        raise InputError(f"final_lr_fraction must be in (0, 1], got {fraction}")
    if schedule == "constant":
        return base
    total = int(settings["iterations"])
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(base, decay_steps=total, alpha=fraction)
    return keras.optimizers.schedules.PiecewiseConstantDecay([int(round(2 * total / 3))], [base, base * fraction])


class ProgressPrinter:
    """A one-line progress bar with the latest loss terms, on standard error.

    On a terminal the line is redrawn in place; otherwise (batch jobs, logs) one
    line is printed every ``every`` iterations.
    """

    def __init__(self, total, start=0, every=50, stream=None, enabled=True):
        self.total, self.start, self.every = total, start, every
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.began = time.perf_counter()

    def update(self, step, terms):
        if not self.enabled or (not self.tty and step % self.every and step != self.total):
            return
        done = step - self.start
        elapsed = time.perf_counter() - self.began
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else float("nan")
        width = 24
        filled = int(width * step / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        text = " ".join(f"{k}={v:.4g}" for k, v in terms.items())
        line = f"[{bar}] {step}/{self.total} {rate:.2f} it/s eta {eta:.0f}s {text}"
        if self.tty:
            self.stream.write("\r" + line[:200])
            if step == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class LossLog:
    """``log.csv``: one row per logged iteration with the mean of each loss term."""

    def __init__(self, path, fields):
        self.path = Path(path)
        self.fields = ["iteration", "seconds"] + list(fields)

    def truncate_after(self, step):
        """Drop rows logged after ``step`` (they belong to a run that was interrupted)."""
        if not self.path.exists():
            self.start_new()
            return
        with open(self.path, newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if int(row["iteration"]) <= step]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.fields)
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(self.path, buffer.getvalue())

    def start_new(self):
        write_text_atomic(self.path, ",".join(self.fields) + "\n")

    def append(self, values):
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.fields).writerow(values)


class _WindowMean:
    """Running means of the loss terms over the current log window."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def add(self, terms):
        for key, value in terms.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += 1

    def pop(self):
        means = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return means


def _prepare_run_dir(run_dir, resume, overwrite):
    run_dir = Path(run_dir)
    checkpoints = run_dir / "checkpoints"
    if run_dir.exists() and any(run_dir.iterdir()) and not (resume or overwrite):
        raise InputError(f"{run_dir}: run directory is not empty (use --resume to continue it or --overwrite)")
    if resume and not checkpoints.exists():
        raise InputError(f"{run_dir}: nothing to resume (no checkpoints/ folder)")
    if overwrite and not resume and checkpoints.exists():
        for item in checkpoints.iterdir():
            item.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def _start_run(run_dir, settings, recorded, chief, resume, overwrite):
    """Prepare the run directory and write config.toml (chief only), then seed everything."""
    if chief:
        run_dir = _prepare_run_dir(run_dir, resume, overwrite)
        write_settings(run_dir, dict(settings, **recorded))
    keras.utils.set_random_seed(settings["seed"])
    return run_dir


def _run_loop(step_fn, state, settings, run_dir, log_fields, resume, progress, finish, chief=True, task="chief"):
    """Shared loop: restore, iterate with logging and checkpoints, finish.

    ``state`` is a ``tf.train.Checkpoint`` holding at least ``step``. A worker that
    is not the chief checkpoints into a temporary folder (every worker must take
    part in a save) and writes nothing else.
    """
    import shutil
    import tempfile

    scratch = None if chief else Path(tempfile.mkdtemp(prefix=f"acregnet-{task}-"))
    if scratch is not None and resume and (run_dir / "checkpoints").exists():
        shutil.copytree(run_dir / "checkpoints", scratch / "checkpoints")
    checkpoint_dir = (scratch or run_dir) / "checkpoints"
    manager = tf.train.CheckpointManager(state, str(checkpoint_dir), max_to_keep=2)
    log = LossLog((scratch or run_dir) / "log.csv", log_fields)
    if resume and manager.latest_checkpoint:
        state.restore(manager.latest_checkpoint).expect_partial()
        log.truncate_after(int(state.step.numpy()))
    else:
        log.start_new()
    start = int(state.step.numpy())
    total = settings["iterations"]
    printer = ProgressPrinter(total, start=start, every=settings["log_every"], enabled=progress)
    window = _WindowMean()
    began = time.perf_counter()
    for step in range(start + 1, total + 1):
        terms = {k: v.numpy() for k, v in step_fn().items()}
        if not all(math.isfinite(v) for v in terms.values()):
            raise FloatingPointError(f"loss became non-finite at iteration {step}: {terms}")
        window.add(terms)
        state.step.assign(step)
        if step % settings["log_every"] == 0 or step == total:
            means = window.pop()
            log.append(dict(iteration=step, seconds=round(time.perf_counter() - began, 3), **means))
            printer.update(step, means)
        if step % settings["checkpoint_every"] == 0 or step == total:
            manager.save(checkpoint_number=step)
    if chief:
        finish()
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"iterations": total, "resumed_from": start, "seconds": time.perf_counter() - began}


def _replicated(strategy, replica_fn, batch_size, *global_args):
    """Run ``replica_fn(*local_slices)`` on every replica and average the returned terms.

    The arguments are global batches (the same on every worker: one seeded
    sampler each); replica ``r`` of ``n`` takes rows ``r * b/n .. (r+1) * b/n``.
    """
    replicas = strategy.num_replicas_in_sync

    def run_replica(*arrays):
        context = tf.distribute.get_replica_context()
        local = batch_size // replicas
        start = context.replica_id_in_sync_group * local
        return replica_fn(*[array[start:start + local] for array in arrays])

    per_replica = strategy.run(run_replica, args=global_args)
    return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}


def _check_replicas(strategy, batch_size):
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise InputError(f"batch size {batch_size} does not split evenly over {replicas} replicas")
    return replicas


def mask_augmentation(settings):
    """The autoencoder's random affine augmentation (rotation, scale, shift), or None.

    An extension (the paper trains on the masks as they are): each training mask is
    moved by a random affine map (:func:`acregnet_cli.tf.sampling.augment_masks`)
    before the swap noise, so that the code sees more shapes and poses than the
    training list holds. All three at 0 (the default) means no augmentation.
    """
    values = {key: float(settings.get(f"augment_{key}", 0.0)) for key in ("rotation", "scale", "shift")}
    bounds = {"rotation": (0.0, 180.0), "scale": (0.0, 0.9), "shift": (0.0, 0.5)}
    for key, value in values.items():
        low, high = bounds[key]
        if not low <= value <= high:
            raise InputError(f"augment_{key} must be in [{low:g}, {high:g}], got {value:g}")
    if not any(values.values()):
        return None
    return values


def train_autoencoder(split, num_classes, settings, run_dir, resume=False, overwrite=False, progress=True, extra=None,
                      strategy=None):
    """Stage one: train the denoising mask autoencoder.

    Parameters
    ----------
    split : datasets.Split
        Training masks (``split.labels``, class indices).
    num_classes : int
        Classes including background.
    settings : dict
        Resolved ``train_ae`` settings (iterations, batch_size, learning_rate,
        code_size, size, swap_probability, checkpoint_every, log_every, seed;
        optionally augment_rotation, augment_scale, augment_shift, see
        :func:`mask_augmentation`).
    run_dir : Path
    resume, overwrite, progress : bool
    extra : dict, optional
        Additional facts written into ``config.toml`` and ``model.json`` (dataset).
    strategy : tf.distribute.Strategy, optional
        See :mod:`acregnet_cli.training.distribute`; the default is one device.

    Returns
    -------
    dict : iterations, seconds, resumed_from.
    """
    from acregnet_cli.training.distribute import worker_identity

    learning_rate = learning_rate_schedule(settings)  # bad settings fail before anything is written
    augmentation = mask_augmentation(settings)
    strategy = strategy or tf.distribute.get_strategy()
    chief, task = worker_identity(strategy)
    replicas = _check_replicas(strategy, settings["batch_size"])
    extra = dict(extra or {})
    run_dir = _start_run(run_dir, settings, dict(num_classes=num_classes, **extra), chief, resume, overwrite)
    size = settings["size"]
    if split.labels.shape[1:] != (size, size):
        raise InputError(f"autoencoder size {size} does not match the masks' size {split.labels.shape[1:]}")
    with strategy.scope():
        encoder, decoder, autoencoder = mask_autoencoder(size, num_classes, settings["code_size"],
                                                         synchronized=replicas > 1)
        optimizer = keras.optimizers.Adam(learning_rate)
        optimizer.build(autoencoder.trainable_variables)
    sampler = tf.random.Generator.from_seed(settings["seed"])
    labels = tf.constant(split.labels, dtype=tf.int32)
    count = len(split)
    batch_size = settings["batch_size"]
    probability = settings["swap_probability"]

    def replica_step(batch, noisy):
        clean = generators.one_hot_masks(batch, num_classes)
        with tf.GradientTape() as tape:
            logits = autoencoder(generators.one_hot_masks(noisy, num_classes), training=True)
            loss = losses.autoencoder_reconstruction(logits, clean)
            # Gradients are summed over replicas: each contributes its share of the mean.
            share = loss / replicas
        grads = tape.gradient(share, autoencoder.trainable_variables)
        optimizer.apply_gradients(zip(grads, autoencoder.trainable_variables))
        return {"loss": loss}

    @tf.function(jit_compile=settings.get("jit_compile", False))
    def step_fn():
        batch = tf.gather(labels, generators.sample_indices(sampler, count, batch_size))
        if augmentation:
            batch = generators.augment_masks(batch, sampler, num_classes, **augmentation)
        noisy = generators.swap_noise(batch, sampler, probability)
        return _replicated(strategy, replica_step, batch_size, batch, noisy)

    state = tf.train.Checkpoint(
        step=tf.Variable(0, dtype=tf.int64), encoder=encoder, decoder=decoder, optimizer=optimizer, sampler=sampler
    )

    def finish():
        save_weights_atomic(encoder, run_dir / "encoder.weights.h5")
        save_weights_atomic(decoder, run_dir / "decoder.weights.h5")
        write_model_json(run_dir, dict(
            architecture="mask_autoencoder", size=size, num_classes=num_classes,
            code_size=settings["code_size"], encoder_weights="encoder.weights.h5",
            decoder_weights="decoder.weights.h5", **extra,
        ))

    return _run_loop(step_fn, state, settings, Path(run_dir), ["loss"], resume, progress, finish, chief, task)


def variant_weights(variant, settings):
    """Loss weights (lambda_r, lambda_ce, lambda_ae) of a variant; unused terms are 0."""
    if variant not in VARIANTS:
        raise InputError(f"unknown variant '{variant}': choose one of {', '.join(VARIANTS)}")
    use_ce, use_ae = VARIANTS[variant]
    return (
        settings["lambda_r"],
        settings["lambda_ce"] if use_ce else 0.0,
        settings["lambda_ae"] if use_ae else 0.0,
    )


def _resize_masks(masks, size):
    """Bring one-hot masks to the autoencoder's size by area averaging (size must divide)."""
    current = masks.shape[1]
    if current == size:
        return masks
    if current % size:
        raise InputError(f"training size {current} is not a multiple of the autoencoder size {size}")
    factor = current // size
    return tf.nn.avg_pool2d(masks, factor, factor, "VALID")


def train_registration(split, num_classes, settings, variant, run_dir, ae_run=None, resume=False,
                       overwrite=False, progress=True, extra=None, strategy=None, init_from=None):
    """Stage two: train the VectorCNN with the loss of ``variant``.

    Parameters
    ----------
    split : datasets.Split
        Training images and masks at ``settings['size']``.
    num_classes : int
    settings : dict
        Resolved ``train_reg`` settings.
    variant : {'regnet', 'ce-regnet', 'ae-regnet', 'ac-regnet'}
    run_dir : Path
    ae_run : Path, optional
        ``train-ae`` run whose encoder is loaded and frozen; required by the
        variants with the autoencoder term.
    strategy : tf.distribute.Strategy, optional
        See :mod:`acregnet_cli.training.distribute`; the default is one device.
    init_from : Path, optional
        A trained VectorCNN (run directory, bundled model folder or weights file)
        whose weights start the run instead of a random initialisation, to
        fine-tune or train a model further. Its size must equal ``settings['size']``.
        The optimizer starts afresh; a resumed run restores its own checkpoint.

    Returns
    -------
    dict : iterations, seconds, resumed_from.
    """
    from acregnet_cli.training.distribute import worker_identity

    init_weights = None
    if init_from is not None:
        init_weights, init_description = vector_cnn_weights(init_from)
        if int(init_description.get("size", 64)) != int(settings["size"]):
            raise InputError(f"{init_from}: model was trained at size {init_description.get('size', 64)}, "
                             f"this run trains at {settings['size']} (--size)")

    learning_rate = learning_rate_schedule(settings)  # bad settings fail before anything is written
    steps = integration_steps(settings, "--integration-steps")
    if init_from is not None and integration_steps(init_description, init_from) != steps:
        raise InputError(f"{init_from}: model has integration_steps = {integration_steps(init_description, init_from)}, "
                         f"this run {steps} (--integration-steps)")
    strategy = strategy or tf.distribute.get_strategy()
    chief, task = worker_identity(strategy)
    replicas = _check_replicas(strategy, settings["batch_size"])
    lambda_r, lambda_ce, lambda_ae = variant_weights(variant, settings)
    encoder = None
    if lambda_ae > 0:
        if ae_run is None:
            raise InputError(f"variant {variant} needs a trained autoencoder: pass --ae-run RUN_DIR of train-ae")
        with strategy.scope():
            encoder, _, ae_description = load_autoencoder(ae_run)
        if ae_description["num_classes"] != num_classes:
            raise InputError(
                f"{ae_run}: autoencoder has {ae_description['num_classes']} classes, the dataset {num_classes}"
            )
        encoder.trainable = False
    extra = dict(extra or {}, variant=variant, ae_run=str(ae_run) if ae_run else "")
    if init_from is not None:
        extra["init_from"] = str(init_from)
    run_dir = _start_run(run_dir, settings, dict(num_classes=num_classes, **extra), chief, resume, overwrite)
    size = settings["size"]
    if split.images.shape[1:] != (size, size):
        raise InputError(f"training size {size} does not match the images' size {split.images.shape[1:]}")
    with strategy.scope():
        model = vector_cnn(size=size, dropout=settings["dropout"], synchronized=replicas > 1,
                           integration_steps=steps)
        if init_weights is not None:
            load_weights_into(model, init_weights)
        optimizer = keras.optimizers.Adam(learning_rate)
        optimizer.build(model.trainable_variables)
    sampler = tf.random.Generator.from_seed(settings["seed"])
    images = tf.constant(split.images[..., None], dtype=tf.float32)
    labels = tf.constant(split.labels, dtype=tf.int32)
    count, batch_size = len(split), settings["batch_size"]
    ce_form = settings["ce_form"]
    ae_size = encoder.input_shape[1] if encoder is not None else None
    use_masks = lambda_ce > 0 or lambda_ae > 0

    def replica_step(moving_idx, fixed_idx):
        moving = tf.gather(images, moving_idx)
        fixed = tf.gather(images, fixed_idx)
        with tf.GradientTape() as tape:
            field = model(tf.concat([moving, fixed], axis=-1), training=True)
            warped = warp_bilinear(moving, field)
            similarity = losses.ncc_loss(warped, fixed)
            smoothness = losses.total_variation(field)
            total = similarity + lambda_r * smoothness
            terms = {"ncc": -similarity, "tv": smoothness}
            if use_masks:
                moving_mask = generators.one_hot_masks(tf.gather(labels, moving_idx), num_classes)
                fixed_mask = generators.one_hot_masks(tf.gather(labels, fixed_idx), num_classes)
                warped_mask = warp_bilinear(moving_mask, field)
            if lambda_ce > 0:
                ce = losses.mask_cross_entropy(warped_mask, fixed_mask, ce_form)
                total += lambda_ce * ce
                terms["ce"] = ce
            if lambda_ae > 0:
                codes_w = encoder(_resize_masks(warped_mask, ae_size), training=False)
                codes_f = encoder(_resize_masks(fixed_mask, ae_size), training=False)
                ae = losses.code_distance(codes_w, codes_f)
                total += lambda_ae * ae
                terms["ae"] = ae
            # Gradients are summed over replicas: each contributes its share of the mean.
            share = total / replicas
        grads = tape.gradient(share, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return dict(loss=total, **terms)

    @tf.function(jit_compile=settings["jit_compile"])
    def step_fn():
        moving_idx, fixed_idx = generators.sample_pairs(sampler, count, batch_size)
        return _replicated(strategy, replica_step, batch_size, moving_idx, fixed_idx)

    fields = ["loss", "ncc", "tv"] + (["ce"] if lambda_ce > 0 else []) + (["ae"] if lambda_ae > 0 else [])
    state = tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64), model=model, optimizer=optimizer, sampler=sampler)

    def finish():
        save_weights_atomic(model, run_dir / "vector_cnn.weights.h5")
        write_model_json(run_dir, dict(
            architecture="vector_cnn", size=size, dropout=settings["dropout"], resize="modern",
            weights="vector_cnn.weights.h5", integration_steps=steps, **extra,
        ))

    return _run_loop(step_fn, state, settings, Path(run_dir), fields, resume, progress, finish, chief, task)


def evaluate_autoencoder(encoder, decoder, split, num_classes, batch_size=64):
    """Dice of the autoencoder's reconstruction of clean masks, per class (mean over masks)."""
    dices = []
    for start in range(0, len(split), batch_size):
        labels = split.labels[start:start + batch_size]
        logits = decoder(encoder(generators.one_hot_masks(labels, num_classes), training=False), training=False)
        predicted = np.argmax(logits.numpy(), axis=-1)
        for truth, guess in zip(labels, predicted):
            dices.append(class_dice(guess, truth, range(1, num_classes)))
    return np.mean(dices, axis=0)
