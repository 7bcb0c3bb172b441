"""Registering image pairs with a trained VectorCNN, at any image size.

The network runs at its training size (64 by default): both images are padded to
square, resized to that size, the predicted field is resized back to the padded
size and scaled by (padded size / model size), and the full-size moving image is
warped with it, then cropped back to the fixed image's frame.
"""

import dataclasses
import functools
import logging
import time

import numpy as np

from acregnet_cli.options import MASK_OUTSIDE, PREALIGN_KINDS
from acregnet_cli.errors import InputError


class TensorFlowOps:
    """Resize, warp and network calls in TensorFlow (batched, any device).

    Parameters
    ----------
    model : keras.Model
    jit : bool
        XLA-compile the resize-and-warp step of :meth:`warp_fields`; on a 2-core CPU it
        ran 1.6 times faster than the plain graph at 256x256 (batch 32). Each batch
        shape compiles once, so callers keep batch shapes fixed.
    """

    def __init__(self, model, jit=True):
        import tensorflow as tf

        from acregnet_cli.tf import layers

        self._tf, self._layers = tf, layers
        # TensorFlow counts retracing per Python code object, so a lambda here would
        # pool the traces of every model of a process (evaluate loads several) and warn;
        # a partial is its own key.
        self._predict = tf.function(functools.partial(_call_model, model), reduce_retracing=True)
        # The resize and warp steps do not depend on the model: their compiled traces
        # are shared by every instance of the process (one per batch shape).
        self._resize_fields, self._warp_fields, self._warp_labels = _shared_steps(jit)

    def predict(self, pair):
        return self._predict(self._tf.convert_to_tensor(pair, self._tf.float32)).numpy()

    def resize_images(self, images, size, method):
        return self._layers.resize_images(self._tf.convert_to_tensor(images, self._tf.float32), size, method).numpy()

    def resize_field(self, field, size, method):
        return self._layers.resize_field(self._tf.convert_to_tensor(field, self._tf.float32), size, method).numpy()

    def warp(self, image, field):
        return self._layers.warp_bilinear(self._tf.convert_to_tensor(image, self._tf.float32),
                                          self._tf.convert_to_tensor(field, self._tf.float32)).numpy()

    def warp_labels(self, images, indices, small_fields, side, method, classes):
        """Like :meth:`warp_fields` for (B, S, S) images and (B, S, S) class indices
        below ``classes``; the labels are those of the warped one-hot mask's arg-max
        (see :func:`layers.warp_labels`).

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

    from acregnet_cli.tf import layers

    warped = layers.warp_bilinear(stacks, fields)
    empty = tf.zeros([], tf.float32)
    labels = tf.cast(tf.argmax(warped[..., 1:], axis=-1), tf.uint8) if masks else empty
    # Only what the caller keeps leaves the graph: the one-hot stack is large.
    return warped[..., 0], labels, warped[..., 1:] if onehot else empty, folding_fractions_tf(fields)


def _warp_labels_graph(images, indices, fields, classes):
    from acregnet_cli.tf import layers

    warped, labels = layers.warp_labels(images, indices, fields, classes)
    return warped, labels, folding_fractions_tf(fields)


def _resize_fields_graph(small, side, method):
    from acregnet_cli.tf import layers

    return layers.resize_field_by_matrices(small, side, method)


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

    def __init__(self, model):
        from acregnet_cli.np import ops as numpy_ops

        self._model, self._ops = model, numpy_ops

    def predict(self, pair):
        return self._model(pair)

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


def pad_to_square(image):
    """Pad a 2-D array to square with zeros, centred; return it and the crop box.

    Returns
    -------
    padded : ndarray (S, S)
    box : tuple (top, left, height, width) locating the original inside ``padded``.
    """
    height, width = image.shape[:2]
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    padded = np.zeros((side, side) + image.shape[2:], dtype=image.dtype)
    padded[top:top + height, left:left + width] = image
    return padded, (top, left, height, width)


def crop(array, box):
    """Inverse of :func:`pad_to_square` for an array of the padded size."""
    top, left, height, width = box
    return array[top:top + height, left:left + width]


def check_registrable(image, name):
    """Reject images the similarity measure cannot use (constant images)."""
    if float(np.ptp(image)) < 1e-6:
        raise InputError(f"{name}: image is constant (normalized cross-correlation is undefined)")


def sampled_outside(field):
    """Where ``p + u(p)`` falls outside the image the (H, W, 2) field warps: beyond the
    outer half of the border pixels, -0.5 or H - 0.5 (rows), -0.5 or W - 0.5 (columns).
    A boolean (H, W) array."""
    field = np.asarray(field)
    height, width = field.shape[:2]
    rows = np.arange(height, dtype=np.float32)[:, None] + field[..., 0]
    columns = np.arange(width, dtype=np.float32)[None, :] + field[..., 1]
    return (rows < -0.5) | (rows > height - 0.5) | (columns < -0.5) | (columns > width - 0.5)


def jacobian_determinant(field):
    """Jacobian determinant of ``x -> x + u(x)`` for a (H, W, 2) field in pixels."""
    du0_dy, du0_dx = np.gradient(field[..., 0])
    du1_dy, du1_dx = np.gradient(field[..., 1])
    return (1.0 + du0_dy) * (1.0 + du1_dx) - du0_dx * du1_dy


def folding_fraction(field):
    """Share of pixels where the Jacobian determinant of ``x -> x + u(x)`` is <= 0."""
    return float(np.mean(jacobian_determinant(field) <= 0))


def folding_fractions_tf(fields):
    """:func:`folding_fraction` of each (H, W, 2) field of a batch, in TensorFlow.

    Differences as ``np.gradient``: central inside, one-sided at the edges.
    """
    import tensorflow as tf

    def gradient(values, axis):
        size = tf.shape(values)[axis]
        first = tf.gather(values, [1], axis=axis) - tf.gather(values, [0], axis=axis)
        last = tf.gather(values, [size - 1], axis=axis) - tf.gather(values, [size - 2], axis=axis)
        inner = (tf.gather(values, tf.range(2, size), axis=axis)
                 - tf.gather(values, tf.range(0, size - 2), axis=axis)) / 2.0
        return tf.concat([first, inner, last], axis=axis)

    rows, columns = fields[..., 0], fields[..., 1]
    determinant = ((1.0 + gradient(rows, 1)) * (1.0 + gradient(columns, 2))
                   - gradient(rows, 2) * gradient(columns, 1))
    return tf.reduce_mean(tf.cast(determinant <= 0, tf.float32), axis=[1, 2])


def _has_mask(item):
    return item["mask"] is not None or item.get("mask_index") is not None


def _onehot(index, classes):
    return (index[..., None] == np.arange(classes)).astype(np.float32)


def _mask_onehot(item):
    """A prepared pair's one-hot mask, made from its class indices on first use."""
    if item["mask"] is None:
        item["mask"] = _onehot(item["mask_index"], len(item["mask_values"]))
    return item["mask"]


def mask_to_index(label_map):
    """Class indices of a label map by its sorted distinct values; return (indices, values).

    Indices are uint8 when there are at most 256 values.
    """
    label_map = np.asarray(label_map)
    if label_map.dtype.kind in "ui" and label_map.size and 0 <= label_map.min() and label_map.max() < 65536:
        # Label maps are small non-negative integers: counting beats sorting.
        present = np.bincount(label_map.ravel())
        values = np.flatnonzero(present).astype(label_map.dtype)
        lookup = np.zeros(len(present), np.intp)
        lookup[values] = np.arange(len(values))
        index = lookup[label_map]
    else:
        values = np.unique(label_map)
        index = np.searchsorted(values, label_map)
    return index.astype(np.uint8 if len(values) <= 256 else np.int32), values


def mask_to_onehot(label_map):
    """One-hot encode a label map by its sorted distinct values; return (onehot, values)."""
    index, values = mask_to_index(label_map)
    return _onehot(index, len(values)), values


@dataclasses.dataclass
class PairResult:
    """Outcome of one registration, in the fixed image's frame."""

    warped: np.ndarray
    field: np.ndarray
    warped_mask: np.ndarray = None
    warped_onehot: np.ndarray = None
    folding_fraction: float = 0.0
    seconds_model: float = 0.0


class Registrar:
    """A loaded VectorCNN ready to register pairs of any size.

    Parameters
    ----------
    model : keras.Model
        VectorCNN mapping (B, S, S, 2) to (B, S, S, 2).
    size : int
        The network's input size.
    resize : {'modern', 'legacy'}
        Resize between image size and network size (see :func:`layers.resize_images`).
    batch_size : int
        Pairs per network call in :meth:`register_many`.
    ops : TensorFlowOps or NumpyOps, optional
        How to compute; TensorFlow (for a Keras ``model``) by default.
    keep_onehot : bool
        Return each pair's warped one-hot mask (``PairResult.warped_onehot``) besides
        its label map; callers that need only the label map save the copy.
    passes : int
        Network passes. The paper's method is one pass. With more, the network is
        applied again to the moving image warped by the field so far and the fixed
        image, and the new field is composed with the old one (see
        :meth:`predict_small`): an extension beyond the paper.
    mask_outside : {'edge', 'background'}
        What the warped mask holds where the field samples outside the moving image.
        'edge': the label at the image border, as the image is warped (the original
        release's clamped warp, and the paper's protocol): a mask that touches the
        border is drawn out into streaks when the field pulls from beyond it.
        'background': label 0 (one-hot: the channel of value 0, or none), as elastix
        fills positions outside the image (``DefaultPixelValue 0``). The warped image
        is the same either way.
    prealign : {None, 'affine', 'similarity'}
        Fit a global transform between the network-size images first
        (:func:`prealign.estimate_prealignment`, TensorFlow) and let the network
        passes start from it: an extension beyond the paper, for pairs whose framing
        differs by more than the network undoes in one pass.
    """

    def __init__(self, model, size, resize="modern", batch_size=32, ops=None, keep_onehot=True, passes=1,
                 mask_outside="edge", prealign=None):
        if prealign is not None and prealign not in PREALIGN_KINDS:
            raise InputError(f"prealign must be one of {', '.join(PREALIGN_KINDS)} or None, got {prealign!r}")
        self.prealign = prealign
        if int(passes) != passes or passes < 1:
            raise InputError(f"passes must be a whole number of at least 1, got {passes}")
        if mask_outside not in MASK_OUTSIDE:
            raise InputError(f"mask_outside must be one of {', '.join(MASK_OUTSIDE)}, got {mask_outside!r}")
        self.mask_outside = mask_outside
        self.passes = int(passes)
        self.keep_onehot = keep_onehot
        self.model = model
        self.size = int(size)
        self.resize = resize
        self.batch_size = batch_size
        self.ops = ops or TensorFlowOps(model)

    def predict_small(self, moving_small, fixed_small):
        """Fields at network size for (B, S, S) moving and fixed batches.

        With ``passes`` > 1, pass ``k`` predicts a field ``v`` between the moving image
        warped by the field ``u`` of the passes so far and the fixed image; the two
        compose to ``v(p) + u(p + v(p))``, so the warp ``moving(p + new(p))`` equals
        warping by ``u`` and then by ``v``, with one interpolation of the moving image.
        With ``prealign``, the global transform's field is the ``u`` of pass one.
        """
        moving_small = np.asarray(moving_small, np.float32)
        fixed_small = np.asarray(fixed_small, np.float32)
        if self.prealign is not None:
            from acregnet_cli.tf.prealign import estimate_prealignment

            field, remaining = estimate_prealignment(moving_small, fixed_small, self.prealign), self.passes
        else:
            field, remaining = self.ops.predict(np.stack([moving_small, fixed_small], axis=-1)), self.passes - 1
        for _ in range(remaining):
            current = self.ops.warp(moving_small[..., None], field)[..., 0]
            step = self.ops.predict(np.stack([current, fixed_small], axis=-1).astype(np.float32))
            field = step + self.ops.warp(field, step)
        return np.asarray(field, np.float32)

    def _to_network(self, square):
        return self.ops.resize_images(square[None, ..., None], self.size, self.resize)[0, ..., 0]

    def prepare(self, moving, fixed, moving_mask=None, mask_values=None, small=True):
        """Pad both images to square in the fixed image's frame; return the pieces.

        ``moving_mask`` is a label map, or a (H, W, K) one-hot array whose channel
        ``k`` stands for ``mask_values[k]`` (so that several masks share channels).
        """
        fixed_sq, box = pad_to_square(fixed)
        moving_sq, _ = pad_to_square(moving)
        side = fixed_sq.shape[0]
        mask_onehot = mask_index = None
        if moving_mask is not None and np.ndim(moving_mask) == 3:
            mask_onehot = pad_to_square(np.asarray(moving_mask, np.float32))[0]
            mask_values = np.asarray(mask_values)
        elif moving_mask is not None:
            # Kept as class indices: the one-hot array is made only if a caller needs it.
            mask_index, mask_values = mask_to_index(pad_to_square(moving_mask)[0])
        if moving_sq.shape[0] != side:
            # A moving image of another size is brought to the fixed frame first.
            moving_sq = self.ops.resize_images(moving_sq[None, ..., None], side, "modern")[0, ..., 0]
            if mask_index is not None:
                mask_onehot, mask_index = _onehot(mask_index, len(mask_values)), None
            if mask_onehot is not None:
                mask_onehot = self.ops.resize_images(mask_onehot[None], side, "modern")[0]
        prepared = dict(moving=moving_sq, fixed=fixed_sq, box=box, mask=mask_onehot, mask_index=mask_index,
                        mask_values=mask_values)
        if small:
            prepared.update(moving_small=self._to_network(moving_sq), fixed_small=self._to_network(fixed_sq))
        return prepared

    def _to_network_many(self, prepared):
        """Network-size inputs for many prepared pairs, one resize call per image size."""
        for group in _groups(prepared, lambda item: item["fixed"].shape[0]):
            squares = np.stack([prepared[i][key] for i in group for key in ("moving", "fixed")])[..., None]
            small = self.ops.resize_images(squares, self.size, self.resize)[..., 0]
            for position, i in enumerate(group):
                prepared[i]["moving_small"], prepared[i]["fixed_small"] = small[2 * position], small[2 * position + 1]

    def finish(self, prepared, small_field):
        """Resize a network-size field to the pair's size, warp, crop: a :class:`PairResult`."""
        side = prepared["fixed"].shape[0]
        field = self.ops.resize_field(np.asarray(small_field, np.float32)[None], side, self.resize)
        warped = self.ops.warp(prepared["moving"][None, ..., None], field)[0, ..., 0]
        field = field[0]
        warped_mask = warped_onehot = None
        if _has_mask(prepared):
            warped_onehot = self.ops.warp(_mask_onehot(prepared)[None], field[None])[0]
            warped_onehot = crop(warped_onehot, prepared["box"])
            warped_mask = prepared["mask_values"][np.argmax(warped_onehot, axis=-1)]
            self._clear_outside(field, prepared, warped_mask, warped_onehot)
        field = crop(field, prepared["box"])
        folding = float(np.mean(jacobian_determinant(field) <= 0))
        return PairResult(warped=np.clip(crop(warped, prepared["box"]), 0.0, 1.0), field=field,
                          warped_mask=warped_mask, warped_onehot=warped_onehot, folding_fraction=folding)

    def _clear_outside(self, square_field, prepared, warped_mask, warped_onehot):
        """With ``mask_outside='background'``, set the warped mask (and its one-hot
        copy, if any) to background in place wherever the square field samples outside
        the moving image."""
        if self.mask_outside != "background":
            return
        outside = crop(sampled_outside(square_field), prepared["box"])
        if not outside.any():
            return
        warped_mask[outside] = 0
        if warped_onehot is not None:
            warped_onehot[outside] = 0
            zero = np.flatnonzero(np.asarray(prepared["mask_values"]) == 0)
            if zero.size:
                warped_onehot[outside, zero[0]] = 1

    def register(self, moving, fixed, moving_mask=None):
        """Register one pair of 2-D float images in [0, 1]; see :class:`PairResult`."""
        return self.register_many([(moving, fixed, moving_mask)])[0]

    def finish_many(self, prepared, small_fields, onehot=None):
        """:meth:`finish` for many pairs: pairs of one size are resized and warped in one call each.

        ``onehot`` (default: the registrar's ``keep_onehot``) keeps each pair's warped
        one-hot mask in ``warped_onehot``; without it only the label map is returned.
        """
        onehot = self.keep_onehot if onehot is None else onehot
        votes = not onehot and hasattr(self.ops, "warp_labels")
        results = [None] * len(prepared)

        def key(item):
            if not _has_mask(item):
                return item["fixed"].shape[0], None
            if votes and item["mask_index"] is not None:
                return item["fixed"].shape[0], "index"
            return item["fixed"].shape[0], len(item["mask_values"])

        for group in _groups(prepared, key):
            side, kind = key(prepared[group[0]])
            group_fields = np.stack([small_fields[i] for i in group]).astype(np.float32)
            if kind == "index":
                # Class indices go to the device (a quarter of a float channel) and
                # become one-hot there; pairs may have different numbers of classes.
                images = np.stack([prepared[i]["moving"] for i in group]).astype(np.float32)
                indices = np.stack([prepared[i]["mask_index"] for i in group])
                classes = max(len(prepared[i]["mask_values"]) for i in group)
                fields, warped, labels, folding = self.ops.warp_labels(images, indices, group_fields, side,
                                                                       self.resize, classes)
                channels = None
            else:
                depth = 1 if kind is None else 1 + kind
                # The image and its one-hot mask travel through one warp as channels.
                stacks = np.empty((len(group), side, side, depth), np.float32)
                for position, i in enumerate(group):
                    stacks[position, ..., 0] = prepared[i]["moving"]
                    if depth > 1:
                        stacks[position, ..., 1:] = _mask_onehot(prepared[i])
                fields, warped, labels, channels, folding = self.ops.warp_fields(
                    stacks, group_fields, side, self.resize, onehot)
            for position, i in enumerate(group):
                item, box = prepared[i], prepared[i]["box"]
                warped_mask = warped_onehot = None
                if _has_mask(item):
                    warped_mask = item["mask_values"][crop(labels[position], box)]
                    if channels is not None:
                        warped_onehot = crop(channels[position], box)
                    self._clear_outside(fields[position], item, warped_mask, warped_onehot)
                field = crop(fields[position], box)
                whole = field.shape == fields[position].shape
                results[i] = PairResult(
                    warped=np.clip(crop(warped[position], box), 0.0, 1.0), field=field,
                    warped_mask=warped_mask, warped_onehot=warped_onehot,
                    folding_fraction=float(folding[position]) if whole else folding_fraction(field))
        return results

    def register_many(self, pairs):
        """Register a list of (moving, fixed, moving_mask or None[, mask_values]), batching every step."""
        prepared = [self.prepare(*pair, small=False) for pair in pairs]
        results = []
        for start in range(0, len(prepared), self.batch_size):
            chunk = prepared[start:start + self.batch_size]
            self._to_network_many(chunk)
            began = time.perf_counter()
            fields = self.predict_small(np.stack([p["moving_small"] for p in chunk]),
                                        np.stack([p["fixed_small"] for p in chunk]))
            per_pair = (time.perf_counter() - began) / len(chunk)
            for result in self.finish_many(chunk, fields):
                result.seconds_model = per_pair
                results.append(result)
        return results


def _groups(items, key):
    """Indices of ``items`` grouped by ``key(item)``, in first-seen order."""
    groups = {}
    for index, item in enumerate(items):
        groups.setdefault(key(item), []).append(index)
    return list(groups.values())
