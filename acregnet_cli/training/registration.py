"""Stage two: the registration network (VectorCNN), with the loss terms of its variant.

Both stages (see also :mod:`acregnet_cli.training.autoencoder`) keep the data in memory as tensors, draw every batch inside one
compiled ``tf.function`` step (no Python work per sample), log the loss terms to
``log.csv`` and save ``tf.train`` checkpoints of the model, the optimizer and the
sampler so that ``resume=True`` continues where an interrupted run stopped.
"""

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from acregnet_cli.errors import InputError
from acregnet_cli.models.files import (
    integration_steps,
    load_autoencoder,
    load_weights_into,
    save_weights_atomic,
    vector_cnn_weights,
    write_model_json,
)
from acregnet_cli.options import VARIANT_NAMES
from acregnet_cli.tf import losses
from acregnet_cli.tf import sampling as generators
from acregnet_cli.tf.networks import vector_cnn
from acregnet_cli.tf.ops import warp_bilinear
from acregnet_cli.training.loop import (
    affine_augmentation,
    check_replicas,
    learning_rate_schedule,
    replicated,
    run_loop,
    start_run,
)

# variant: (uses cross-entropy, uses autoencoder), for each of options.VARIANT_NAMES
VARIANTS = dict(zip(VARIANT_NAMES, ((False, False), (True, False), (False, True), (True, True))))


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


def batch_shares(batch_size, parts):
    """Pairs of each of ``parts`` datasets in a batch: as equal as the batch allows.

    Examples
    --------
    >>> batch_shares(32, 3)
    [11, 11, 10]
    """
    return [batch_size // parts + (part < batch_size % parts) for part in range(parts)]


def draw_pairs(sampler, counts, shares):
    """(moving, fixed) indices into the datasets of ``counts`` items each, stacked in one
    tensor: ``shares[d]`` pairs of dataset d, both images of a pair from it, in dataset order.
    One dataset draws as :func:`~acregnet_cli.tf.sampling.sample_pairs` does.

    Examples
    --------
    >>> moving, fixed = draw_pairs(tf.random.Generator.from_seed(0), [3, 5], [2, 2])
    >>> bool(tf.reduce_all(moving[:2] < 3)) and bool(tf.reduce_all(fixed[2:] >= 3))
    True
    """
    if len(counts) == 1:
        return generators.sample_pairs(sampler, counts[0], shares[0])
    offsets = np.cumsum([0] + list(counts[:-1])).tolist()
    drawn = [generators.sample_pairs(sampler, count, rows) for count, rows in zip(counts, shares)]
    return tuple(tf.concat([pair[k] + offset for pair, offset in zip(drawn, offsets)], 0) for k in (0, 1))


def train_registration(split, num_classes, settings, variant, run_dir, ae_run=None, resume=False,
                       overwrite=False, progress=True, extra=None, strategy=None, init_from=None):
    """Stage two: train the VectorCNN with the loss of ``variant``.

    Parameters
    ----------
    split : datasets.Split or list of Split
        Training images and masks at ``settings['size']``. Several datasets (a list, with
        a list of ``num_classes``) train one network: each batch holds pairs of every
        dataset in equal shares (:func:`batch_shares`), both images of a pair from one
        dataset, so that its masks compare in that dataset's own label set; the mask terms
        are those shares' weighted mean, the autoencoder term only over the datasets
        with the autoencoder's number of classes.
    num_classes : int or list of int
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
        fine-tune or train a model further, at its own size or another one.
        The optimizer starts afresh; a resumed run restores its own checkpoint.

    Returns
    -------
    dict : iterations, seconds, resumed_from.
    """
    from acregnet_cli.training.distribute import worker_identity

    init_weights = None
    if init_from is not None:
        # The VectorCNN is fully convolutional: weights trained at one size start a run at
        # another (a 64 px model fine-tuned at 128 px predicts a field twice as fine).
        init_weights, init_description = vector_cnn_weights(init_from)

    learning_rate = learning_rate_schedule(settings)  # bad settings fail before anything is written
    steps = integration_steps(settings, "--integration-steps")
    if init_from is not None and integration_steps(init_description, init_from) != steps:
        raise InputError(f"{init_from}: model has integration_steps = {integration_steps(init_description, init_from)}, "
                         f"this run {steps} (--integration-steps)")
    strategy = strategy or tf.distribute.get_strategy()
    chief, task = worker_identity(strategy)
    replicas = check_replicas(strategy, settings["batch_size"])
    lambda_r, lambda_ce, lambda_ae = variant_weights(variant, settings)
    lambda_fold = settings.get("lambda_fold", 0.0)
    augmentation = affine_augmentation(settings)
    splits = list(split) if isinstance(split, (list, tuple)) else [split]
    classes = list(num_classes) if isinstance(num_classes, (list, tuple)) else [num_classes]
    if len(splits) > 1 and replicas > 1:
        raise InputError("training on several datasets runs on one device (--strategy default)")
    if settings["batch_size"] < len(splits):
        raise InputError(f"batch size {settings['batch_size']} is smaller than the number of datasets ({len(splits)})")
    encoder = None
    if lambda_ae > 0:
        if ae_run is None:
            raise InputError(f"variant {variant} needs a trained autoencoder: pass --ae-run RUN_DIR of train-ae")
        with strategy.scope():
            encoder, _, ae_description = load_autoencoder(ae_run)
        if ae_description["num_classes"] not in classes:
            raise InputError(
                f"{ae_run}: autoencoder has {ae_description['num_classes']} classes, the dataset "
                f"{' or '.join(map(str, sorted(set(classes))))}"
            )
        encoder.trainable = False
    extra = dict(extra or {}, variant=variant, ae_run=str(ae_run) if ae_run else "")
    if init_from is not None:
        extra["init_from"] = str(init_from)
    run_dir = start_run(run_dir, settings, dict(num_classes=num_classes, **extra), chief, resume, overwrite)
    size = settings["size"]
    for part in splits:
        if part.images.shape[1:] != (size, size):
            raise InputError(f"training size {size} does not match the images' size {part.images.shape[1:]}")
    with strategy.scope():
        model = vector_cnn(size=size, dropout=settings["dropout"], synchronized=replicas > 1,
                           integration_steps=steps)
        if init_weights is not None:
            load_weights_into(model, init_weights)
        optimizer = keras.optimizers.Adam(learning_rate)
        optimizer.build(model.trainable_variables)
    sampler = tf.random.Generator.from_seed(settings["seed"])
    # All datasets in one tensor, in the order draw_pairs offsets their indices.
    images = tf.constant(np.concatenate([part.images for part in splits])[..., None], dtype=tf.float32)
    labels = tf.constant(np.concatenate([part.labels for part in splits]), dtype=tf.int32)
    counts, batch_size = [len(part) for part in splits], settings["batch_size"]
    shares = batch_shares(batch_size, len(splits))
    # (first row, rows, classes, weight of its mask terms, weight of its autoencoder term) of each dataset's pairs.
    ae_classes = ae_description["num_classes"] if encoder is not None else None
    ae_rows = sum(n for n, k in zip(shares, classes) if k == ae_classes)
    groups = [(sum(shares[:d]), shares[d], classes[d], shares[d] / batch_size,
               shares[d] / ae_rows if classes[d] == ae_classes else 0.0) for d in range(len(splits))]
    ce_form = settings["ce_form"]
    ae_size = encoder.input_shape[1] if encoder is not None else None
    use_masks = lambda_ce > 0 or lambda_ae > 0

    def replica_step(moving_idx, fixed_idx, moving_affine=None, fixed_affine=None):
        moving = tf.gather(images, moving_idx)
        fixed = tf.gather(images, fixed_idx)
        if augmentation:
            # Each image of a pair moves by its own affine map, its mask with it: pairs
            # framed differently from any two training images.
            moving, fixed = warp_bilinear(moving, moving_affine), warp_bilinear(fixed, fixed_affine)
        with tf.GradientTape() as tape:
            field = model(tf.concat([moving, fixed], axis=-1), training=True)
            warped = warp_bilinear(moving, field)
            similarity = losses.ncc_loss(warped, fixed)
            smoothness = losses.total_variation(field)
            total = similarity + lambda_r * smoothness
            terms = {"ncc": -similarity, "tv": smoothness}
            if lambda_fold > 0:
                fold = losses.folding_penalty(field)
                total += lambda_fold * fold
                terms["fold"] = fold
            ce = ae = 0.0
            for first, rows, group_classes, ce_weight, ae_weight in groups if use_masks else ():
                # The masks of one dataset's pairs, in its own label set.
                rows_of = slice(first, first + rows)
                moving_mask = generators.one_hot_masks(tf.gather(labels, moving_idx[rows_of]), group_classes)
                fixed_mask = generators.one_hot_masks(tf.gather(labels, fixed_idx[rows_of]), group_classes)
                if augmentation:
                    moving_mask = warp_bilinear(moving_mask, moving_affine[rows_of])
                    fixed_mask = warp_bilinear(fixed_mask, fixed_affine[rows_of])
                warped_mask = warp_bilinear(moving_mask, field[rows_of])
                if lambda_ce > 0:
                    ce += ce_weight * losses.mask_cross_entropy(warped_mask, fixed_mask, ce_form)
                if lambda_ae > 0 and ae_weight:
                    codes_w = encoder(_resize_masks(warped_mask, ae_size), training=False)
                    codes_f = encoder(_resize_masks(fixed_mask, ae_size), training=False)
                    ae += ae_weight * losses.code_distance(codes_w, codes_f)
            if lambda_ce > 0:
                total += lambda_ce * ce
                terms["ce"] = ce
            if lambda_ae > 0:
                total += lambda_ae * ae
                terms["ae"] = ae
            # Gradients are summed over replicas: each contributes its share of the mean.
            share = total / replicas
        grads = tape.gradient(share, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return dict(loss=total, **terms)

    @tf.function(jit_compile=settings["jit_compile"])
    def step_fn():
        moving_idx, fixed_idx = draw_pairs(sampler, counts, shares)
        if not augmentation:
            return replicated(strategy, replica_step, batch_size, moving_idx, fixed_idx)
        affine = [generators.random_affine_fields(sampler, batch_size, size, size, **augmentation) for _ in range(2)]
        return replicated(strategy, replica_step, batch_size, moving_idx, fixed_idx, *affine)

    fields = ["loss", "ncc", "tv"] + (["fold"] if lambda_fold > 0 else []) + (["ce"] if lambda_ce > 0 else []) + (["ae"] if lambda_ae > 0 else [])
    # Dropout draws its masks from per-layer seed generators that the model's own
    # checkpoint leaves out; kept here, a resumed run draws the masks the uninterrupted
    # run would have drawn.
    # (A Dropout of rate 0 draws nothing and has no generator.)
    dropout_seeds = [layer.seed_generator.state for layer in model.layers
                     if isinstance(layer, keras.layers.Dropout) and getattr(layer, "seed_generator", None) is not None]
    state = tf.train.Checkpoint(step=tf.Variable(0, dtype=tf.int64), model=model, optimizer=optimizer, sampler=sampler,
                                dropout_seeds=dropout_seeds)

    def sample_fn():
        # The first two training images: moving | fixed | warped, side by side.
        moving, fixed = images[:1], images[1:2] if counts[0] > 1 else images[:1]
        field = model(tf.concat([moving, fixed], axis=-1), training=False)
        return tf.clip_by_value(tf.concat([moving, fixed, warp_bilinear(moving, field)], axis=2), 0.0, 1.0)

    def finish():
        save_weights_atomic(model, run_dir / "vector_cnn.weights.h5")
        write_model_json(run_dir, dict(
            architecture="vector_cnn", size=size, dropout=settings["dropout"], resize="modern",
            weights="vector_cnn.weights.h5", integration_steps=steps, **extra,
        ))

    return run_loop(step_fn, state, settings, Path(run_dir), fields, resume, progress, finish, chief, task,
                    sample_fn=sample_fn)


