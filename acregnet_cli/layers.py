"""Keras layers and TensorFlow functions for dense 2-D displacement fields.

Convention used throughout the project: a field ``u`` has shape (B, H, W, 2) in
pixels; channel 0 is the displacement along rows (y), channel 1 along columns (x).
Warping samples the moving image at ``p + u(p)`` with bilinear interpolation;
sample positions outside the image are clamped to the border, so edge pixels
repeat (the behaviour of the original release).
"""

import keras
import tensorflow as tf


def warp_bilinear(image, field):
    """Warp ``image`` by the displacement ``field`` with bilinear interpolation.

    Parameters
    ----------
    image : Tensor, shape (B, H, W, C)
        Any number of channels (an image, or a one-hot mask).
    field : Tensor, shape (B, H, W, 2)
        Displacement in pixels, channel 0 along rows, channel 1 along columns.

    Returns
    -------
    Tensor, shape (B, H, W, C), the dtype of ``image``.

    Differentiable with respect to the image and to the field (the latter inside
    the image; the border clamp has zero gradient outside).
    """
    image = tf.convert_to_tensor(image)
    field = tf.cast(tf.convert_to_tensor(field), image.dtype)
    if image.shape.rank != 4 or field.shape.rank != 4:
        raise ValueError(f"warp needs (B, H, W, C) image and (B, H, W, 2) field, got {image.shape} and {field.shape}")
    if field.shape[-1] is not None and field.shape[-1] != 2:
        raise ValueError(f"field must have 2 channels (rows, columns), got {field.shape[-1]}")
    if image.shape[:3].is_fully_defined() and field.shape[:3].is_fully_defined() and image.shape[:3] != field.shape[:3]:
        raise ValueError(f"image {image.shape} and field {field.shape} differ in batch or size")
    shape = tf.shape(image)
    batch, height, width, channels = shape[0], shape[1], shape[2], shape[3]
    dtype = image.dtype

    rows = tf.cast(tf.range(height), dtype)[None, :, None]
    cols = tf.cast(tf.range(width), dtype)[None, None, :]
    max_row = tf.cast(height - 1, dtype)
    max_col = tf.cast(width - 1, dtype)
    y = tf.clip_by_value(rows + field[..., 0], 0.0, max_row)
    x = tf.clip_by_value(cols + field[..., 1], 0.0, max_col)

    y0 = tf.floor(y)
    x0 = tf.floor(x)
    wy = (y - y0)[..., None]
    wx = (x - x0)[..., None]
    y0i = tf.cast(y0, tf.int32)
    x0i = tf.cast(x0, tf.int32)
    y1i = tf.minimum(y0i + 1, height - 1)
    x1i = tf.minimum(x0i + 1, width - 1)

    # One gather per corner over the flattened batch of pixels.
    flat = tf.reshape(image, [-1, channels])
    base = (tf.range(batch) * height * width)[:, None, None]

    def corner(yi, xi):
        return tf.gather(flat, base + yi * width + xi)

    top = corner(y0i, x0i) * (1.0 - wx) + corner(y0i, x1i) * wx
    bottom = corner(y1i, x0i) * (1.0 - wx) + corner(y1i, x1i) * wx
    return top * (1.0 - wy) + bottom * wy


@keras.saving.register_keras_serializable(package="acregnet")
class BilinearWarp(keras.layers.Layer):
    """Keras layer: ``BilinearWarp()([image, field])`` warps ``image`` by ``field``.

    See :func:`warp_bilinear` for the convention.
    """

    def call(self, inputs):
        image, field = inputs
        return warp_bilinear(image, field)

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def resize_images(images, size, method="legacy"):
    """Resize a (B, H, W, C) batch to ``size`` (int or (h, w)) bilinearly.

    ``method='legacy'`` reproduces TensorFlow 1's ``resize_bilinear`` with
    ``align_corners=False`` and no half-pixel centres (source coordinate
    ``i * in / out``), which the original release used between 256 and 64 pixels;
    ``method='modern'`` uses half-pixel centres (``tf.image.resize``), which keeps
    the image centred and is what current libraries do.
    """
    if isinstance(size, int):
        size = (size, size)
    if method == "legacy":
        images = tf.convert_to_tensor(images)
        resized = tf.raw_ops.ResizeBilinear(images=images, size=size, align_corners=False, half_pixel_centers=False)
        return tf.cast(resized, images.dtype) if images.dtype in (tf.float16, tf.float64) else resized
    if method == "modern":
        return tf.image.resize(images, size, method="bilinear", antialias=False)
    raise ValueError(f"unknown resize method {method!r}: use 'legacy' or 'modern'")


def resize_field(field, size, method="legacy"):
    """Resize a displacement field to ``size`` and scale its values to the new pixel size."""
    if isinstance(size, int):
        size = (size, size)
    in_h = tf.cast(tf.shape(field)[1], field.dtype)
    in_w = tf.cast(tf.shape(field)[2], field.dtype)
    resized = resize_images(field, size, method)
    scale = tf.stack([size[0] / in_h, size[1] / in_w])
    return resized * tf.cast(scale, field.dtype)


class BatchNormalization(keras.layers.BatchNormalization):
    """Batch normalization whose training pass is TensorFlow's fused kernel.

    The class keeps Keras's name on purpose: Keras 3 files weights under the snake-case
    class name (``layers/batch_normalization_3``), so models built with it read and
    write exactly the files of ``keras.layers.BatchNormalization``.

    Same variables, same outputs and same moving-statistics update as
    ``keras.layers.BatchNormalization`` (within float tolerance), but the training
    pass is one fused op (oneDNN on CPU, cuDNN on GPU) instead of the separate moment,
    normalize and scale ops Keras composes, which made the VectorCNN's training step
    about a fifth slower on a 2-core CPU. Inference uses the Keras path unchanged.
    Only for channels-last 4-D inputs and without cross-replica synchronization.
    """

    def call(self, inputs, training=None, mask=None):
        if not training or mask is not None or len(inputs.shape) != 4 or self.axis not in (-1, 3):
            return super().call(inputs, training=training, mask=mask)
        outputs, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            inputs, self.gamma, self.beta, epsilon=self.epsilon, is_training=True)[:3]
        # The fused op returns the Bessel-corrected variance; Keras tracks the biased one.
        count = tf.cast(tf.reduce_prod(tf.shape(inputs)[:-1]), variance.dtype)
        variance = variance * (count - 1.0) / tf.maximum(count, 1.0)
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs


# The name the rest of the package uses; the class itself must be called BatchNormalization.
FusedBatchNormalization = BatchNormalization
