"""Every choice the library and the command line offer, and the registration options.

Kept free of NumPy and TensorFlow imports, so that the command line can build its
choices from these tuples without paying for those imports at start-up. The click
options are generated from the same tuples (:mod:`acregnet_cli.cli.common`), so a
value added here is offered, validated and documented everywhere at once.
"""

import dataclasses
import math

from acregnet_cli.errors import InputError

# What a warped mask holds where the field samples outside the moving image.
MASK_OUTSIDE = ("edge", "background")
# Global transforms fitted before the network (acregnet_cli.tf.prealign).
PREALIGN_KINDS = ("similarity", "affine", "align")
# The kinds fitted by gradient descent in TensorFlow; 'align' reads the map off the network's own field.
FITTED_PREALIGN = ("similarity", "affine")
# Resize between image size and network size (acregnet_cli.tf.ops.resize_images).
RESIZE_METHODS = ("modern", "legacy")
# Where registration computes: numpy skips TensorFlow's start-up; auto picks per run.
ENGINES = ("auto", "tensorflow", "numpy")
# Training: which loss terms a registration network is trained with.
VARIANT_NAMES = ("regnet", "ce-regnet", "ae-regnet", "ac-regnet")
LR_SCHEDULES = ("constant", "cosine", "step")
CE_FORMS = ("release", "textbook")
STRATEGIES = ("default", "mirrored", "multi-worker")
# What of an image the corpus pipeline segments: its field of view (uniform edge bands
# cut off), that and a global affine map onto the atlases' frame, or the whole frame
# (acregnet_cli.applications.corpus).
FRAMINGS = ("align", "field-of-view", "none")
# Multi-atlas label fusion.
FUSIONS = ("majority", "weighted")
# Dataset layouts that `preprocess` converts.
LAYOUTS = ("jsrt-scr", "montgomery", "shenzhen")

# Up to this many pairs, engine 'auto' picks NumPy on a machine without an NVIDIA GPU:
# below it, NumPy inference beats paying for TensorFlow's start-up (benchmarks/results).
NUMPY_ENGINE_MAX_PAIRS = 64

# Bounds that keep a typo from allocating what no machine has.
MAX_PASSES = 16
MAX_BATCH_SIZE = 4096


def _choice(name, value, choices, optional=False):
    if optional and value is None:
        return
    if value not in choices:
        allowed = ", ".join(choices) + (" or None" if optional else "")
        raise InputError(f"{name} must be one of {allowed}, got {value!r}")


def _whole(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or int(value) != value or not low <= value <= high:
        raise InputError(f"{name} must be a whole number from {low} to {high}, got {value!r}")


@dataclasses.dataclass(frozen=True)
class RegistrationOptions:
    """How pairs are registered, validated once when made.

    Parameters
    ----------
    passes : int, optional
        Network passes. The paper's method is one; with more, the network is applied
        again to the moving image warped so far and the fields are composed. None
        takes the model's own (``passes`` in its model.json; 1 when it says none).
    mask_outside : {'edge', 'background'}
        What a warped mask holds where the field samples outside the moving image:
        the border label (the paper's protocol) or background.
    prealign : {None, 'affine', 'similarity', 'align'}
        A global transform before the network: fitted by gradient descent on minus NCC
        ('affine', 'similarity'; needs TensorFlow), or the affine map the network's own
        field agrees on, refined over up to three calls as ``corpus`` aligns ('align').
    resize : {None, 'modern', 'legacy'}
        Resize between image and network size; None takes the model's.
    engine : {'auto', 'tensorflow', 'numpy'}
        Where to compute; 'auto' picks NumPy for small CPU runs without prealign.
    batch_size : int
        Pairs per network call.

    Raises
    ------
    InputError
        For a value out of its range, naming the option.

    Examples
    --------
    >>> RegistrationOptions(passes=2).passes
    2
    >>> RegistrationOptions(passes=0)
    Traceback (most recent call last):
    ...
    acregnet_cli.errors.InputError: passes must be a whole number from 1 to 16, got 0
    """

    passes: int = None
    mask_outside: str = "edge"
    prealign: str = None
    resize: str = None
    engine: str = "auto"
    batch_size: int = 32

    def __post_init__(self):
        if self.passes is not None:
            _whole("passes", self.passes, 1, MAX_PASSES)
            object.__setattr__(self, "passes", int(self.passes))
        _choice("mask_outside", self.mask_outside, MASK_OUTSIDE)
        _choice("prealign", self.prealign, PREALIGN_KINDS, optional=True)
        _choice("resize", self.resize, RESIZE_METHODS, optional=True)
        _choice("engine", self.engine, ENGINES)
        _whole("batch_size", self.batch_size, 1, MAX_BATCH_SIZE)
        if self.engine == "numpy" and self.prealign in FITTED_PREALIGN:
            raise InputError("prealign fits with TensorFlow: use engine 'tensorflow' or 'auto' (--engine tensorflow)")
        object.__setattr__(self, "batch_size", int(self.batch_size))

    def replace(self, **changes):
        """A copy with some options changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def summary(self):
        """The options that change results, as written into summaries and tables."""
        return {"passes": self.passes, "mask_outside": self.mask_outside, "prealign": self.prealign}
