"""Stage one: the denoising autoencoder of anatomical masks (and its reconstruction Dice)."""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from acregnet_cli.errors import InputError
from acregnet_cli.metrics import class_dice
from acregnet_cli.models.files import save_weights_atomic, write_model_json
from acregnet_cli.tf import losses
from acregnet_cli.tf import sampling as generators
from acregnet_cli.tf.networks import mask_autoencoder
from acregnet_cli.training.loop import (
    affine_augmentation,
    check_replicas,
    learning_rate_schedule,
    replicated,
    run_loop,
    start_run,
)


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
        :func:`affine_augmentation`).
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
    augmentation = affine_augmentation(settings)
    strategy = strategy or tf.distribute.get_strategy()
    chief, task = worker_identity(strategy)
    replicas = check_replicas(strategy, settings["batch_size"])
    extra = dict(extra or {})
    run_dir = start_run(run_dir, settings, dict(num_classes=num_classes, **extra), chief, resume, overwrite)
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
        return replicated(strategy, replica_step, batch_size, batch, noisy)

    state = tf.train.Checkpoint(
        step=tf.Variable(0, dtype=tf.int64), encoder=encoder, decoder=decoder, optimizer=optimizer, sampler=sampler
    )

    def sample_fn():
        # The first training mask and its reconstruction, side by side, classes as grey levels.
        mask = labels[:1]
        logits = autoencoder(generators.one_hot_masks(mask, num_classes), training=False)
        pair = tf.concat([mask, tf.argmax(logits, axis=-1, output_type=tf.int32)], axis=2)
        return tf.cast(pair[..., None], tf.float32) / max(num_classes - 1, 1)

    def finish():
        save_weights_atomic(encoder, run_dir / "encoder.weights.h5")
        save_weights_atomic(decoder, run_dir / "decoder.weights.h5")
        write_model_json(run_dir, dict(
            architecture="mask_autoencoder", size=size, num_classes=num_classes,
            code_size=settings["code_size"], encoder_weights="encoder.weights.h5",
            decoder_weights="decoder.weights.h5", **extra,
        ))

    return run_loop(step_fn, state, settings, Path(run_dir), ["loss"], resume, progress, finish, chief, task,
                    sample_fn=sample_fn)


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
