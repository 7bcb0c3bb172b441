"""Registering image pairs with a trained VectorCNN, at any image size.

The network runs at its training size (64 by default): both images are padded to
square, resized to that size, the predicted field is resized back to the padded
size and scaled by (padded size / model size), and the full-size moving image is
warped with it, then cropped back to the fixed image's frame.
"""

import dataclasses
import time

import numpy as np

from acregnet_cli.errors import RunFailure
from acregnet_cli.fields import (
    crop,
    folding_fraction,
    mask_to_index,
    pad_to_square,
    sampled_outside,
)
from acregnet_cli.fields import onehot as _onehot
from acregnet_cli.options import RegistrationOptions
from acregnet_cli.registration.engines import TensorFlowOps


def _has_mask(item):
    return item["mask"] is not None or item.get("mask_index") is not None


def _mask_onehot(item):
    """A prepared pair's one-hot mask, made from its class indices on first use."""
    if item["mask"] is None:
        item["mask"] = _onehot(item["mask_index"], len(item["mask_values"]))
    return item["mask"]


@dataclasses.dataclass
class PairResult:
    """Outcome of one registration, in the fixed image's frame."""

    warped: np.ndarray
    field: np.ndarray
    warped_mask: np.ndarray = None
    warped_onehot: np.ndarray = None
    folding_fraction: float = 0.0
    seconds_model: float = 0.0
    # For a velocity-field network's single pass: the velocity at network size and how
    # the field was brought from it to the fixed frame (what the exact inverse needs).
    velocity: np.ndarray = None
    velocity_frame: dict = None


class Registrar:
    """A loaded VectorCNN ready to register pairs of any size.

    Parameters
    ----------
    model : keras.Model
        VectorCNN mapping (B, S, S, 2) to (B, S, S, 2).
    size : int
        The network's input size.
    resize : {'modern', 'legacy'}
        Resize between image size and network size (see :func:`acregnet_cli.tf.ops.resize_images`).
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
        (:func:`acregnet_cli.tf.prealign.estimate_prealignment`, TensorFlow) and let the network
        passes start from it: an extension beyond the paper, for pairs whose framing
        differs by more than the network undoes in one pass.
    """

    def __init__(self, model, size, resize="modern", batch_size=32, ops=None, keep_onehot=True, passes=1,
                 mask_outside="edge", prealign=None):
        # Validated in one place, whichever way the registrar is made.
        options = RegistrationOptions(passes=passes, mask_outside=mask_outside, prealign=prealign,
                                      resize=resize, batch_size=batch_size)
        self.passes, self.mask_outside, self.prealign = options.passes, options.mask_outside, options.prealign
        self.keep_onehot = keep_onehot
        self.model = model
        self.size = int(size)
        self.resize = resize
        self.batch_size = options.batch_size
        self.ops = ops or TensorFlowOps(model)
        # Set by make_registrar for velocity-field networks (their steps).
        self.velocity_steps = 0

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
        if self.prealign == "align":
            field, remaining = self._network_affine(moving_small, fixed_small), self.passes
        elif self.prealign is not None:
            from acregnet_cli.tf.prealign import estimate_prealignment

            field, remaining = estimate_prealignment(moving_small, fixed_small, self.prealign), self.passes
        else:
            field, remaining = self.ops.predict(np.stack([moving_small, fixed_small], axis=-1)), self.passes - 1
        for _ in range(remaining):
            current = self.ops.warp(moving_small[..., None], field)[..., 0]
            step = self.ops.predict(np.stack([current, fixed_small], axis=-1).astype(np.float32))
            field = step + self.ops.warp(field, step)
        return np.asarray(field, np.float32)

    def _network_affine(self, moving_small, fixed_small):
        """Per pair, the field of the global affine map the network's own field agrees on
        (least squares), refined while it still moves the grid more than ALIGN_MIN_REACH px,
        over up to ALIGN_ROUNDS network calls on the moving image resampled by the map so
        far (from its own pixels each time); zero where the first map moves it less.

        ``prealign='align'`` for a pair: what ``corpus`` does with k atlases, with one.
        """
        from acregnet_cli.fields.affine import ALIGN_MIN_REACH, ALIGN_ROUNDS, affine_field, fit_affine

        size = moving_small.shape[1]
        maps, current, pending = [None] * len(moving_small), moving_small.copy(), list(range(len(moving_small)))
        for _ in range(ALIGN_ROUNDS):
            if not pending:
                break
            fields = self.ops.predict(np.stack([current[pending], fixed_small[pending]], axis=-1))
            still = []
            for field, index in zip(fields, pending):
                matrix, shift, reach = fit_affine(field)
                if reach <= ALIGN_MIN_REACH:
                    continue
                # The resampled image at p is the moving one at A p + t; the network reads it at
                # A2 p + t2: the moving image at A (A2 p + t2) + t.
                first = maps[index]
                maps[index] = (matrix, shift) if first is None else (first[0] @ matrix, first[0] @ shift + first[1])
                still.append(index)
            if still:
                at = np.stack([affine_field(*maps[i], size) for i in still])
                current[still] = self.ops.warp(moving_small[still][..., None], at)[..., 0]
            pending = still
        zero = np.zeros((size, size, 2), np.float32)
        return np.stack([zero if m is None else affine_field(*m, size) for m in maps]).astype(np.float32)

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
        """Resize network-size fields to their pairs' size, warp, crop: a :class:`PairResult`
        per pair. Pairs of one size are resized and warped in one call each.

        ``onehot`` (default: the registrar's ``keep_onehot``) keeps each pair's warped
        one-hot mask in ``warped_onehot``; without it only the label map is returned.
        """
        onehot = self.keep_onehot if onehot is None else onehot
        votes = not onehot and self.ops.label_votes
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

    def register_many(self, pairs, shown=None):
        """Register a list of (moving, fixed, moving_mask or None[, mask_values]), batching every step.

        ``shown``, one array per pair (or None), is what is warped into ``PairResult.warped``
        in place of the moving image the network saw: the moving file's own values, when
        the network saw a normalised copy (same shape, in [0, 1]).
        """
        prepared = [self.prepare(*pair, small=False) for pair in pairs]
        results = []
        for start in range(0, len(prepared), self.batch_size):
            chunk = prepared[start:start + self.batch_size]
            self._to_network_many(chunk)
            for offset, item in enumerate(chunk):
                values = None if shown is None else shown[start + offset]
                if values is not None:
                    square, _ = pad_to_square(np.asarray(values, np.float32))
                    if square.shape[0] != item["moving"].shape[0]:
                        square = self.ops.resize_images(square[None, ..., None], item["moving"].shape[0],
                                                        "modern")[0, ..., 0]
                    item["moving"] = square
            began = time.perf_counter()
            fields = self.predict_small(np.stack([p["moving_small"] for p in chunk]),
                                        np.stack([p["fixed_small"] for p in chunk]))
            if not np.all(np.isfinite(fields)):
                raise RunFailure("the network predicted NaN or infinite displacements (are its weights corrupt?)")
            velocities = self._velocities(chunk)
            per_pair = (time.perf_counter() - began) / len(chunk)
            for position, result in enumerate(self.finish_many(chunk, fields)):
                result.seconds_model = per_pair
                if velocities is not None:
                    item = chunk[position]
                    result.velocity = velocities[position]
                    result.velocity_frame = {"integration_steps": self.velocity_steps, "network_size": self.size,
                                             "side": int(item["fixed"].shape[0]), "box": list(item["box"]),
                                             "resize": self.resize}
                results.append(result)
        return results

    def _velocities(self, chunk):
        """The velocities behind a chunk's fields, when the field is their integral alone
        (one pass, no pre-alignment); else None."""
        if not self.velocity_steps or self.passes != 1 or self.prealign is not None:
            return None
        pair = np.stack([np.stack([p["moving_small"], p["fixed_small"]], axis=-1) for p in chunk]).astype(np.float32)
        return np.asarray(self.ops.predict_velocity(pair), np.float32)


def _groups(items, key):
    """Indices of ``items`` grouped by ``key(item)``, in first-seen order."""
    groups = {}
    for index, item in enumerate(items):
        groups.setdefault(key(item), []).append(index)
    return list(groups.values())


def make_registrar(model=None, options=None, keep_onehot=False, pairs=1):
    """A :class:`Registrar` for a model, computing where ``options.engine`` says.

    Parameters
    ----------
    model : Model, str or Path, optional
        A :class:`~acregnet_cli.models.Model`, or what :func:`~acregnet_cli.models.load_model`
        takes (bundled name, run directory, weights file); default the bundled ``jsrt``.
    options : RegistrationOptions, optional
    keep_onehot : bool
        See :class:`Registrar`.
    pairs : int
        How many pairs the run registers (what ``engine='auto'`` decides on).

    Returns
    -------
    Registrar
        With ``engine`` (the engine it chose) and ``model_handle`` (the :class:`Model`).

    Examples
    --------
    >>> from acregnet_cli.options import RegistrationOptions
    >>> registrar = make_registrar("jsrt", RegistrationOptions(engine="numpy"))
    >>> registrar.engine, registrar.size, registrar.resize
    ('numpy', 64, 'modern')
    """
    from acregnet_cli.models import Model, load_model
    from acregnet_cli.registration.engines import NumpyOps, choose_engine

    model = model if isinstance(model, Model) else load_model(model, kind="registration")
    options = options or RegistrationOptions()
    engine = choose_engine(options.engine, pairs, options.prealign)
    if engine == "numpy":
        # NumPy gains nothing from batching: one pair's arrays stay in cache
        # (benchmarks/results: one at a time was twice as fast as batches of 32).
        network = model.numpy()
        ops, batch_size = NumpyOps(network), 1
    else:
        network, ops, batch_size = model.keras(), None, options.batch_size
    registrar = Registrar(network, model.size, options.resize or model.resize, batch_size=batch_size, ops=ops,
                          keep_onehot=keep_onehot, passes=options.passes or model.passes,
                          mask_outside=options.mask_outside,
                          prealign=options.prealign)
    registrar.engine, registrar.model_handle = engine, model
    registrar.velocity_steps = model.integration_steps
    return registrar
