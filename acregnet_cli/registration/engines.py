"""Where registration computes: TensorFlow (batched, any device) or NumPy (no start-up).

Both engines offer the same operations under the same names (:class:`Engine`);
which one a run uses is chosen by :func:`choose_engine`.
"""

import functools
import logging
import os
import typing

import numpy as np

from acregnet_cli.fields import folding_fraction
from acregnet_cli.options import NUMPY_ENGINE_MAX_PAIRS


def has_nvidia_gpu():
    """Whether an NVIDIA device node exists (cheap: no TensorFlow import)."""
    return os.path.exists("/dev/nvidia0") or os.path.exists("/proc/driver/nvidia/gpus")


def choose_engine(engine, pairs, prealign=None):
    """The engine a run of ``pairs`` pairs uses: ``engine`` itself unless it is 'auto'.

    'auto' picks NumPy for up to :data:`NUMPY_ENGINE_MAX_PAIRS` pairs on a machine
    without an NVIDIA GPU, and TensorFlow otherwise or when a pre-alignment is fitted
    (it needs TensorFlow, so NumPy would save no start-up).

    Examples
    --------
    >>> choose_engine("tensorflow", 1)
    'tensorflow'
    >>> choose_engine("auto", 10_000)
    'tensorflow'
    """
    if engine != "auto":
        return engine
    numpy_wins = pairs <= NUMPY_ENGINE_MAX_PAIRS and not has_nvidia_gpu() and prealign in (None, "align")
    return "numpy" if numpy_wins else "tensorflow"


class Engine(typing.Protocol):
    """What the :class:`~acregnet_cli.registration.registrar.Registrar` asks of an engine.

    ``warp_labels`` warps class indices as labels on the device; engines without
    it set ``label_votes = False`` and receive one-hot masks through ``warp_fields``.
    """

    label_votes: bool

    def predict(self, pair): ...

    def predict_velocity(self, pair): ...

    def resize_images(self, images, size, method): ...

    def resize_field(self, field, size, method): ...

    def warp(self, image, field): ...

    def warp_fields(self, stacks, small_fields, side, method, onehot=True): ...


class TensorFlowOps:
    """Resize, warp and network calls in TensorFlow (batched, any device).

    Its ``warp_labels`` warps class indices on the device (``label_votes``).

    Parameters
    ----------
    model : keras.Model
    jit : bool
        XLA-compile the resize-and-warp step of :meth:`warp_fields`; on a 2-core CPU it
        ran 1.6 times faster than the plain graph at 256x256 (batch 32). Each batch
        shape compiles once, so callers keep batch shapes fixed.
    """

    label_votes = True

    def __init__(self, model, jit=True):
        import tensorflow as tf

        from acregnet_cli.tf import ops as tf_ops

        self._tf, self._tf_ops, self._model = tf, tf_ops, model
        # TensorFlow counts retracing per Python code object, so a lambda here would
        # pool the traces of every model of a process (evaluate loads several) and warn;
        # a partial is its own key.
        self._predict = tf.function(functools.partial(_call_model, model), reduce_retracing=True)
        # The resize and warp steps do not depend on the model: their compiled traces
        # are shared by every instance of the process (one per batch shape).
        self._resize_fields, self._warp_fields, self._warp_labels = _shared_steps(jit)

    def predict(self, pair):
        return self._predict(self._tf.convert_to_tensor(pair, self._tf.float32)).numpy()

    def predict_velocity(self, pair):
        """The velocity a velocity-field network integrates (the input of its ``integrate`` layer)."""
        if not hasattr(self, "_velocity"):
            import keras

            self._velocity = keras.Model(self._model.inputs, self._model.get_layer("integrate").input)
        return np.asarray(self._velocity(self._tf.convert_to_tensor(pair, self._tf.float32), training=False))

    def resize_images(self, images, size, method):
        return self._tf_ops.resize_images(self._tf.convert_to_tensor(images, self._tf.float32), size, method).numpy()

    def resize_field(self, field, size, method):
        return self._tf_ops.resize_field(self._tf.convert_to_tensor(field, self._tf.float32), size, method).numpy()

    def warp(self, image, field):
        return _compiled_warp()(self._tf.convert_to_tensor(image, self._tf.float32),
                                self._tf.convert_to_tensor(field, self._tf.float32)).numpy()

    def warp_labels(self, images, indices, small_fields, side, method, classes):
        """Like :meth:`warp_fields` for (B, S, S) images and (B, S, S) class indices
        below ``classes``; the labels are those of the warped one-hot mask's arg-max
        (see :func:`tf_ops.warp_labels`).

        Returns (fields, warped images, warped class indices, folding shares).
        """
        tf = self._tf
        fields = self._resize_fields(tf.convert_to_tensor(small_fields, tf.float32), side, method)
        outputs = (fields,) + self._warp_labels(tf.convert_to_tensor(images, tf.float32),
                                                tf.convert_to_tensor(indices), fields, classes)
        return tuple(t.numpy() for t in outputs)

    def warp_fields(self, stacks, small_fields, side, method, onehot=True):
        """Resize (B, s, s, 2) network fields to ``side`` and warp (B, side, side, C) stacks.

        Channel 0 of a stack is the image, channels 1.. a one-hot mask (if any).
        Returns (fields, warped images, arg-max of the warped mask channels or None,
        the warped mask channels or None (``onehot=False``), share of folded pixels
        of each whole square field).
        """
        tf = self._tf
        masks = stacks.shape[-1] > 1
        fields = self._resize_fields(tf.convert_to_tensor(small_fields, tf.float32), side, method)
        outputs = (fields,) + self._warp_fields(tf.convert_to_tensor(stacks, tf.float32), fields, masks,
                                                masks and onehot)
        fields, warped, labels, channels, folding = (t.numpy() for t in outputs)
        return fields, warped, labels if masks else None, channels if masks and onehot else None, folding


def _call_model(model, pair):
    return model(pair, training=False)


def _warp_fields_graph(stacks, fields, masks, onehot):
    import tensorflow as tf

    from acregnet_cli.tf import ops as tf_ops

    warped = tf_ops.warp_bilinear(stacks, fields)
    empty = tf.zeros([], tf.float32)
    labels = tf.cast(tf.argmax(warped[..., 1:], axis=-1), tf.uint8) if masks else empty
    # Only what the caller keeps leaves the graph: the one-hot stack is large.
    return warped[..., 0], labels, warped[..., 1:] if onehot else empty, folding_fractions_tf(fields)


def _warp_labels_graph(images, indices, fields, classes):
    from acregnet_cli.tf import ops as tf_ops

    warped, labels = tf_ops.warp_labels(images, indices, fields, classes)
    return warped, labels, folding_fractions_tf(fields)


def _resize_fields_graph(small, side, method):
    from acregnet_cli.tf import ops as tf_ops

    return tf_ops.resize_field_by_matrices(small, side, method)


class SharedStepRetracingFilter(logging.Filter):
    """Drops TensorFlow's retracing warning about the shared resize and warp steps.

    Those steps trace (and XLA-compile) once per batch shape and output side by design;
    a process that registers images of many sizes retraces them legitimately, and
    TensorFlow's warning, which counts traces over the whole process, would tell the
    user of a bug that is not there. Retracing of anything else still warns.
    """

    STEPS = (_resize_fields_graph.__name__, _warp_fields_graph.__name__, _warp_labels_graph.__name__)

    def filter(self, record):
        message = record.getMessage()
        return not ("tf.function retracing" in message
                    and any(f"<function {name} at" in message for name in self.STEPS))


@functools.lru_cache(maxsize=None)
def _compiled_warp():
    """The bilinear warp as one graph for any batch and size (one trace per process).

    ``corpus`` and ``segment`` warp many small batches at network size (the alignment's
    resampling, multi-pass composition): run op by op, each call cost 6-9 ms of eager
    dispatch, against about 1 ms as a graph (``docs/speed.md``).
    """
    import tensorflow as tf

    from acregnet_cli.tf import ops as tf_ops

    return tf.function(tf_ops.warp_bilinear, input_signature=[tf.TensorSpec([None, None, None, None], tf.float32),
                                                              tf.TensorSpec([None, None, None, 2], tf.float32)])


@functools.lru_cache(maxsize=None)
def _shared_steps(jit):
    """(resize fields, warp stacks, warp labels) compiled functions, made once per process and jit flag."""
    import tensorflow as tf

    logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, SharedStepRetracingFilter) for f in logger.filters):
        logger.addFilter(SharedStepRetracingFilter())

    # Fields are upsampled by two matrix products (faster than the resize kernel),
    # compiled apart from the warp: fused into it, XLA made the pair slower.
    return (tf.function(_resize_fields_graph, jit_compile=jit),
            tf.function(_warp_fields_graph, jit_compile=jit),
            tf.function(_warp_labels_graph, jit_compile=jit))


class NumpyOps:
    """The same operations in NumPy with :class:`lite.LiteVectorCNN`: no TensorFlow start-up."""

    label_votes = False

    def __init__(self, model):
        from acregnet_cli.np import ops as numpy_ops

        self._model, self._ops = model, numpy_ops

    def predict(self, pair):
        return self._model(pair)

    def predict_velocity(self, pair):
        return self._model(pair, integrate=False)

    def resize_images(self, images, size, method):
        return self._ops.resize_images(images, size, method)

    def resize_field(self, field, size, method):
        return self._ops.resize_field(field, size, method)

    def warp(self, image, field):
        return self._ops.warp_bilinear(image, field)

    def warp_fields(self, stacks, small_fields, side, method, onehot=True):
        """See :meth:`TensorFlowOps.warp_fields`."""
        fields = self.resize_field(small_fields, side, method)
        warped = self.warp(stacks, fields)
        masks = stacks.shape[-1] > 1
        labels = np.argmax(warped[..., 1:], axis=-1) if masks else None
        folding = np.array([folding_fraction(field) for field in fields])
        return fields, warped[..., 0], labels, warped[..., 1:] if masks and onehot else None, folding


def folding_fractions_tf(fields):
    """:func:`folding_fraction` of each (H, W, 2) field of a batch, in TensorFlow.

    Differences as ``np.gradient``: central inside, one-sided at the edges.
    """
    import tensorflow as tf

    from acregnet_cli.tf.ops import jacobian_determinant

    determinant = jacobian_determinant(fields)
    return tf.reduce_mean(tf.cast(determinant <= 0, tf.float32), axis=[1, 2])
