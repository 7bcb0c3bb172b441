"""Global pre-alignment of image pairs at network size (an extension beyond the paper).

The paper's VectorCNN sees pairs whose framing differs as much as the datasets'
(Montgomery and Shenzhen were similarity-aligned to a reference image before
resizing, JSRT not at all); where a pair differs by a large global scale or shift,
one 64x64 network pass moves the anatomy only part of the way. This module fits a
global transform between the two network-size images first, by gradient descent on
minus the normalized cross-correlation (the network's own similarity), so that the
network is left with the residual, local deformation.

Transforms map normalised output coordinates ``p`` (rows, columns, each in [-1, 1]
over pixel centres) to the moving image's sample coordinates ``A p + t``; as a
displacement field in pixels that is ``((A - I) p + t) * (S - 1) / 2``.

The cross-correlation is taken over the pixels whose sample falls inside the moving
image, so that shrinking the moving image (whose border would be repeated outside)
is not penalised for the repeated border. Fitting runs in both directions (moving to
fixed, and fixed to moving, inverted) and keeps, per pair, whichever of the two
candidates and the identity correlates best: a fit that must shrink the moving image
starts far from its optimum, while the reverse fit, which must enlarge, does not.
"""

import numpy as np
import tensorflow as tf

from acregnet_cli.errors import InputError
from acregnet_cli.options import PREALIGN_KINDS
from acregnet_cli.tf.ops import warp_bilinear


def _pixel_grid(size):
    """(S, S, 2) float32 pixel positions (row, column)."""
    rows, columns = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    return np.stack([rows, columns], axis=-1).astype(np.float32)


def _coordinates(size):
    """(S, S, 2) positions normalised to [-1, 1] over pixel centres."""
    centre = (size - 1) / 2.0
    return ((_pixel_grid(size) - centre) / centre).astype(np.float32)


def transform_field(matrices, translations, size):
    """Displacement field (B, S, S, 2) in pixels of global transforms ``p -> A p + t``.

    Parameters
    ----------
    matrices : array_like (B, 2, 2)
    translations : array_like (B, 2), in normalised coordinates (rows, columns)
    size : int

    Returns
    -------
    Tensor float32 (B, S, S, 2): zero for the identity, ``(A - I) p + t`` scaled to pixels.
    """
    matrices = tf.convert_to_tensor(matrices, tf.float32)
    translations = tf.convert_to_tensor(translations, tf.float32)
    points = tf.constant(_coordinates(size))
    moved = tf.einsum("bij,hwj->bhwi", matrices, points) + translations[:, None, None, :]
    return (moved - points[None]) * ((size - 1) / 2.0)


def _parameters_to_transform(parameters, kind):
    """(A, t) from free parameters whose zeros are the identity."""
    translations = parameters[:, 4:6]
    if kind == "affine":
        matrices = tf.reshape(parameters[:, :4], (-1, 2, 2)) + tf.eye(2)
    else:
        # log-scale and angle: a similarity transform without reflection.
        scale, angle = tf.exp(parameters[:, 0]), parameters[:, 1]
        cos, sin = scale * tf.cos(angle), scale * tf.sin(angle)
        matrices = tf.reshape(tf.stack([cos, -sin, sin, cos], axis=-1), (-1, 2, 2))
    return matrices, translations


def overlap_ncc(moving, fixed, field):
    """Per-pair NCC of ``moving`` warped by ``field`` and ``fixed``, over the pixels
    whose sample position falls inside the moving image.

    Parameters
    ----------
    moving, fixed : Tensor (B, S, S, 1)
    field : Tensor (B, S, S, 2)

    Returns
    -------
    Tensor (B,). A pair whose overlap holds fewer than a quarter of the pixels gets -1,
    so that a transform cannot win by correlating a sliver.
    """
    size = moving.shape[1]
    positions = tf.constant(_pixel_grid(size))[None] + field
    inside = tf.cast(tf.reduce_all((positions >= 0) & (positions <= size - 1), axis=-1, keepdims=True), tf.float32)
    inside = tf.stop_gradient(inside)
    axes = [1, 2, 3]
    count = tf.reduce_sum(inside, axis=axes, keepdims=True)
    warped = warp_bilinear(moving, field)

    def mean(values):
        return tf.reduce_sum(values * inside, axis=axes, keepdims=True) / tf.maximum(count, 1.0)

    warped_c, fixed_c = warped - mean(warped), fixed - mean(fixed)
    correlation = mean(warped_c * fixed_c) / (tf.sqrt(mean(tf.square(warped_c)) * mean(tf.square(fixed_c))) + 1e-5)
    correlation = correlation[:, 0, 0, 0]
    enough = count[:, 0, 0, 0] >= 0.25 * size * size
    return tf.where(enough, correlation, -tf.ones_like(correlation))


@tf.function(reduce_retracing=True)
def _fit(moving, fixed, kind, steps, learning_rate):
    size = moving.shape[1]
    # Adam by hand on a plain tensor, so that the fit is one graph with no variables;
    # zero parameters are the identity.
    parameters = tf.zeros([tf.shape(moving)[0], 6])
    first = tf.zeros_like(parameters)
    second = tf.zeros_like(parameters)
    beta1, beta2 = 0.9, 0.999
    for step in tf.range(1, steps + 1):
        with tf.GradientTape() as tape:
            tape.watch(parameters)
            matrices, translations = _parameters_to_transform(parameters, kind)
            loss = -tf.reduce_sum(overlap_ncc(moving, fixed, transform_field(matrices, translations, size)))
        gradient = tape.gradient(loss, parameters)
        first = beta1 * first + (1 - beta1) * gradient
        second = beta2 * second + (1 - beta2) * tf.square(gradient)
        t = tf.cast(step, tf.float32)
        corrected = (first / (1 - beta1 ** t)) / (tf.sqrt(second / (1 - beta2 ** t)) + 1e-7)
        parameters = parameters - learning_rate * corrected
    return _parameters_to_transform(parameters, kind)


def estimate_prealignment(moving, fixed, kind="affine", steps=300, learning_rate=0.01):
    """Global transforms bringing each moving image onto its fixed image.

    Parameters
    ----------
    moving, fixed : array_like (B, S, S), float in [0, 1]
        Network-size images.
    kind : {'similarity', 'affine'}
    steps : int
        Gradient steps per direction.
    learning_rate : float

    Returns
    -------
    ndarray float32 (B, S, S, 2)
        Displacement fields in pixels at size S: warping ``moving`` by them aligns it
        globally with ``fixed``. Where neither fitted transform correlates better
        than none, the field is zero.
    """
    if kind not in PREALIGN_KINDS:
        raise InputError(f"prealignment must be one of {', '.join(PREALIGN_KINDS)}, got {kind!r}")
    moving = np.asarray(moving, np.float32)
    fixed = np.asarray(fixed, np.float32)
    if moving.ndim != 3 or moving.shape != fixed.shape or moving.shape[1] != moving.shape[2]:
        raise InputError(f"prealignment needs two (B, S, S) batches of one shape, got {moving.shape} and {fixed.shape}")
    if len(moving) == 0:
        return np.zeros(moving.shape + (2,), np.float32)
    size = moving.shape[1]
    moving_t, fixed_t = tf.constant(moving[..., None]), tf.constant(fixed[..., None])
    steps_t, rate_t = tf.constant(int(steps)), tf.constant(float(learning_rate), tf.float32)
    forward = _fit(moving_t, fixed_t, kind, steps_t, rate_t)
    backward_m, backward_t = _fit(fixed_t, moving_t, kind, steps_t, rate_t)
    inverse = tf.linalg.inv(backward_m)
    reverse = (inverse, -tf.einsum("bij,bj->bi", inverse, backward_t))
    candidates = [transform_field(*forward, size), transform_field(*reverse, size)]
    candidates.append(tf.zeros_like(candidates[0]))
    scores = tf.stack([overlap_ncc(moving_t, fixed_t, field) for field in candidates], axis=1)
    best = tf.argmax(scores, axis=1)
    fields = tf.stack(candidates, axis=1)
    return tf.gather(fields, best, axis=1, batch_dims=1).numpy().astype(np.float32)
