"""The Python entry point for arrays: :func:`register` two images already in memory."""

import numpy as np

from acregnet_cli.errors import InputError
from acregnet_cli.fields import check_registrable
from acregnet_cli.io.images import array_to_gray, check_label_map
from acregnet_cli.io.intensity import parse_intensity
from acregnet_cli.options import RegistrationOptions
from acregnet_cli.registration import make_registrar


def register(moving, fixed, model="jsrt", mask=None, *, passes=None, mask_outside="edge", prealign=None, resize=None,
             engine="auto", intensity="auto"):
    """Register ``moving`` onto ``fixed``; the same field ``acregnet register`` writes.

    Images of any dtype and layout a radiograph file holds (uint8, uint16, float,
    bool; 2-D or RGB/RGBA) are normalised exactly as the command line reads the file
    they would be saved as (see :func:`acregnet_cli.io.images.array_to_gray`), so
    ``register(np.asarray(Image.open(a)), np.asarray(Image.open(b)))`` equals
    ``acregnet register a b``.

    Parameters
    ----------
    moving, fixed : array_like
        The images; they may differ in size (the result is in the fixed image's frame).
    model : Model, str or Path
        A bundled name (default ``jsrt``), a run directory, a weights file or a
        :class:`~acregnet_cli.models.Model`.
    mask : array_like, optional
        Label map of the moving image (integer values, one per structure).
    passes, mask_outside, prealign, resize, engine
        See :class:`~acregnet_cli.options.RegistrationOptions`; ``engine='auto'``
        uses NumPy on a machine without an NVIDIA GPU (no TensorFlow start-up).
    intensity : 'auto', 'dtype' or (lo, hi)
        How values become [0, 1] (:func:`acregnet_cli.io.intensity.normalise`): by
        default a window from each image's own content, inverted images flipped.

    Returns
    -------
    PairResult
        ``field`` (H, W, 2) in pixels, rows then columns, ``warped(p) = moving(p + field(p))``;
        ``warped`` in [0, 1] (the normalised moving image, float32); ``warped_mask`` (with ``mask``); ``folding_fraction``.

    Raises
    ------
    InputError
        For images that cannot be registered (wrong shape, constant, NaN) or bad options.

    Examples
    --------
    >>> import numpy as np
    >>> from acregnet_cli.datasets.phantom import make_subject
    >>> rng = np.random.RandomState(0)
    >>> (moving, moving_mask), (fixed, _) = make_subject(rng, 128), make_subject(rng, 128)
    >>> result = register((moving * 255).astype(np.uint8), (fixed * 255).astype(np.uint8), mask=moving_mask)
    >>> result.field.shape, result.warped.shape, result.warped_mask.shape
    ((128, 128, 2), (128, 128), (128, 128))
    """
    options = RegistrationOptions(passes=passes, mask_outside=mask_outside, prealign=prealign, resize=resize,
                                  engine=engine)
    intensity = parse_intensity(intensity)
    moving = array_to_gray(moving, "moving", intensity)
    fixed = array_to_gray(fixed, "fixed", intensity)
    check_registrable(moving, "moving")
    check_registrable(fixed, "fixed")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != moving.shape:
            raise InputError(f"mask: shape {mask.shape} differs from the moving image's {moving.shape}")
        mask = check_label_map(mask, "mask")
    registrar = make_registrar(model, options)
    return registrar.register(moving, fixed, mask)
