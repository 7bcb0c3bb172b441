"""Loss terms of RegNet, CE-RegNet, AE-RegNet and AC-RegNet.

Each function takes batched tensors and returns a scalar averaged over the batch,
with the reductions of the original TensorFlow release (see docs/method.md).
"""

import tensorflow as tf

from acregnet_cli.tf.ops import jacobian_determinant

NCC_EPSILON = 1e-5


def ncc(warped, fixed, epsilon=NCC_EPSILON):
    """Global normalized cross-correlation of each image pair, averaged over the batch.

    Means and standard deviations are taken over the whole image (all pixels and
    channels). An image compared with itself gives 1 (up to ``epsilon``); the
    value is invariant to a positive affine change of either image's intensities.

    Parameters
    ----------
    warped, fixed : Tensor, shape (B, H, W, C)

    Returns
    -------
    Tensor, scalar: mean NCC in [-1, 1].
    """
    axes = [1, 2, 3]
    warped_c = warped - tf.reduce_mean(warped, axis=axes, keepdims=True)
    fixed_c = fixed - tf.reduce_mean(fixed, axis=axes, keepdims=True)
    covariance = tf.reduce_mean(warped_c * fixed_c, axis=axes)
    std_w = tf.sqrt(tf.reduce_mean(tf.square(warped_c), axis=axes))
    std_f = tf.sqrt(tf.reduce_mean(tf.square(fixed_c), axis=axes))
    return tf.reduce_mean(covariance / (std_w * std_f + epsilon))


def ncc_loss(warped, fixed):
    """Similarity loss: minus :func:`ncc`."""
    return -ncc(warped, fixed)


def total_variation(field):
    """Anisotropic total variation of a field, summed per image, averaged over the batch.

    The sum of absolute differences between neighbouring values along rows and
    columns, over both channels (``tf.image.total_variation``). It is a sum, not
    a mean: lambda_r = 5e-5 of the paper is tuned to this scale.
    """
    return tf.reduce_mean(tf.image.total_variation(tf.convert_to_tensor(field)))


# The determinant the folding penalty asks for at least: a margin above 0, because the
# field is trained at network size and upsampled (bilinear, 4x for 64 -> 256) before
# folding is measured, which can carry a determinant just above 0 to just below it.
FOLD_MARGIN = 0.1


def folding_penalty(field, margin=FOLD_MARGIN):
    """Mean over pixels and batch of ``max(0, margin - det J)``: zero for a field whose
    Jacobian determinant is at least ``margin`` everywhere, growing with how far and
    how widely it folds. An extension: the paper's loss has no such term.

    Examples
    --------
    >>> import tensorflow as tf
    >>> float(folding_penalty(tf.zeros((1, 8, 8, 2))))
    0.0
    """
    return tf.reduce_mean(tf.nn.relu(margin - jacobian_determinant(field)))


def mask_cross_entropy(warped_onehot, fixed_onehot, form="release", epsilon=1e-7):
    """Pixel-wise cross-entropy between a warped one-hot mask and the fixed one.

    Parameters
    ----------
    warped_onehot, fixed_onehot : Tensor, shape (B, H, W, K)
    form : {'release', 'textbook'}
        ``'release'`` (default) reproduces the original release, which passed the
        warped one-hot probabilities as *logits* to a softmax cross-entropy, i.e.
        ``-sum_k f_k log softmax(w)_k``; its values never reach 0 and its gradients
        are softer. ``'textbook'`` is the categorical cross-entropy of the
        probabilities, ``-sum_k f_k log(w_k)`` with ``w`` clipped to ``epsilon``.

    Returns
    -------
    Tensor, scalar: mean over pixels and batch.
    """
    if form == "release":
        per_pixel = tf.nn.softmax_cross_entropy_with_logits(labels=fixed_onehot, logits=warped_onehot)
    elif form == "textbook":
        probabilities = tf.clip_by_value(warped_onehot, epsilon, 1.0)
        per_pixel = -tf.reduce_sum(fixed_onehot * tf.math.log(probabilities), axis=-1)
    else:
        raise ValueError(f"unknown cross-entropy form {form!r}: use 'release' or 'textbook'")
    return tf.reduce_mean(per_pixel)


def code_distance(code_a, code_b):
    """Squared Euclidean distance between codes, summed over the code, averaged over the batch."""
    return tf.reduce_mean(tf.reduce_sum(tf.square(code_a - code_b), axis=-1))


def autoencoder_reconstruction(logits, clean_onehot):
    """Softmax cross-entropy of the decoder's logits against the clean one-hot mask."""
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(labels=clean_onehot, logits=logits))
