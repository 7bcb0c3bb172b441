"""Keras layers over :mod:`acregnet_cli.tf.ops`, and the fused batch normalization."""

import keras
import tensorflow as tf

from acregnet_cli.tf.ops import check_steps, integrate_velocity, warp_bilinear


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


@keras.saving.register_keras_serializable(package="acregnet")
class IntegrateVelocity(keras.layers.Layer):
    """Keras layer: ``IntegrateVelocity(steps)(velocity)`` is the displacement of its flow.

    See :func:`integrate_velocity`. No weights.
    """

    def __init__(self, steps=7, **kwargs):
        super().__init__(**kwargs)
        self.steps = check_steps(steps)

    def call(self, velocity):
        return integrate_velocity(velocity, self.steps)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return dict(super().get_config(), steps=self.steps)


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



FusedBatchNormalization = BatchNormalization
