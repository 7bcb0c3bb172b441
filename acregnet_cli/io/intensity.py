"""Intensity by content: the window and polarity of a radiograph from its own pixels.

The bundled models were trained on 8-bit images whose darkest and brightest pixels
span the whole 0..255 range, lungs dark and bones bright. Hospital exports rarely
look like that: 10-14-bit values stored in 16-bit PNGs, a uint16 window somewhere
in the middle of the range, dark or flat 8-bit files, MONOCHROME1 images saved as
PNG (so bones dark), uniform borders from padding or collimation. Dividing by the
data type's maximum hands the network an image it has never seen.

Here the window is taken from the image itself: robust percentiles of its field of
view (the image less uniform bands along its edges: padding, letterboxing,
collimator shadow), so that burned-in text, markers and borders do not set it.
The window is stretched to [0, 1] and, where the image looks inverted (its
mediastinum darker than its lungs), flipped. A linear change of the stored values
(bit depth, a window, a gain) thus gives the same normalised image up to
quantisation.
"""

import dataclasses

import numpy as np

from acregnet_cli.errors import InputError

# Percentiles of the field of view taken as black and white: outside them lie a few
# burned-in labels, markers and dead pixels, not anatomy.
LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.5
# An edge row or column is part of a uniform band when this share of its pixels lies
# within BAND_TOLERANCE (of the image's range) of its median: text in a band does not
# break it, anatomy does.
BAND_SHARE, BAND_TOLERANCE = 0.97, 0.02
# Non-uniform lines (burned-in text) a band may hold between uniform ones, as a share of the side.
TEXT_GAP = 0.05
# Percentiles, bands and the polarity test read at most this many pixels per side.
ANALYSIS_SIDE = 256
# A band taking more than this share of a side is not trimmed (a nearly blank image).
MAX_BAND = 0.45


@dataclasses.dataclass(frozen=True)
class Intensity:
    """How stored values were brought to [0, 1].

    Attributes
    ----------
    mode : str
        'auto', 'dtype' or 'window' (given bounds).
    low, high : float
        Stored values mapped to 0 and 1 (before inversion).
    inverted : bool
        The image was flipped (bright lungs: MONOCHROME1 shown as stored, or a negative).
    field_of_view : tuple
        (top, left, height, width) of the image less its uniform edge bands.
    """

    mode: str
    low: float
    high: float
    inverted: bool
    field_of_view: tuple

    def summary(self):
        """As written into summaries and tables."""
        return {"intensity": self.mode, "window": [_round(self.low), _round(self.high)],
                "inverted": self.inverted, "field_of_view": [int(v) for v in self.field_of_view]}


def _round(value):
    return float(f"{value:.6g}")


def parse_intensity(value):
    """'auto', 'dtype', or a window ``'LO,HI'`` (stored values) as ``(lo, hi)``.

    Examples
    --------
    >>> parse_intensity("auto"), parse_intensity("100,4000")
    ('auto', (100.0, 4000.0))
    >>> parse_intensity("5,5")
    Traceback (most recent call last):
    ...
    acregnet_cli.errors.InputError: --intensity: a window LO,HI needs LO < HI, got '5,5'
    """
    if isinstance(value, tuple):
        low, high = value
    elif value in ("auto", "dtype"):
        return value
    else:
        parts = str(value).split(",")
        try:
            low, high = (float(part) for part in parts) if len(parts) == 2 else (None, None)
        except ValueError:
            low = high = None
        if low is None:
            raise InputError(f"--intensity must be auto, dtype or a window LO,HI of stored values, got {value!r}")
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise InputError(f"--intensity: a window LO,HI needs LO < HI, got {value!r}")
    return float(low), float(high)


def _sample(gray):
    """A strided view of at most ANALYSIS_SIDE pixels per side, and the stride."""
    step = max(1, int(np.ceil(max(gray.shape) / ANALYSIS_SIDE)))
    return gray[::step, ::step], step


def _band_length(lines, tolerance):
    """How many leading lines (rows of ``lines``) form a uniform band.

    A few non-uniform lines (up to TEXT_GAP of the side) between uniform ones are a line
    of burned-in text in the band, not the image: the band goes on past them.
    """
    gap = max(1, int(TEXT_GAP * len(lines)))
    # Lines are tested in chunks from the edge: most images have no band, and their
    # first chunk ends the scan.
    uniform = np.zeros(0, bool)

    def tested(upto):
        nonlocal uniform
        upto = min(upto, len(lines))
        if upto > len(uniform):
            chunk = lines[len(uniform):upto]
            medians = np.median(chunk, axis=1, keepdims=True)
            uniform = np.concatenate([uniform, (np.abs(chunk - medians) <= tolerance).mean(axis=1) >= BAND_SHARE])
        return uniform

    length, position = 0, 0
    while position < len(lines):
        if tested(position + gap + 1)[position]:
            position += 1
            length = position
            continue
        following = uniform[position:position + gap + 1]
        if not following.any():
            break
        position += int(np.argmax(following))
    return length


def field_of_view(gray):
    """(top, left, height, width) of ``gray`` less the uniform bands along its edges.

    Examples
    --------
    >>> image = np.zeros((100, 80)); image[10:90, 5:80] = np.random.RandomState(0).rand(80, 75)
    >>> field_of_view(image)
    (10, 5, 80, 75)
    """
    gray = np.asarray(gray, np.float64)
    sample, step = _sample(gray)
    low, high = np.percentile(sample, [1, 99])
    tolerance = BAND_TOLERANCE * max(high - low, 1e-12)
    rows, columns = sample.shape
    top = _band_length(sample, tolerance)
    bottom = _band_length(sample[::-1], tolerance)
    left = _band_length(sample.T, tolerance)
    right = _band_length(sample.T[::-1], tolerance)
    if top + bottom > MAX_BAND * 2 * rows or min(top, bottom) > MAX_BAND * rows:
        top = bottom = 0
    if left + right > MAX_BAND * 2 * columns or min(left, right) > MAX_BAND * columns:
        left = right = 0
    height, width = gray.shape
    # Back to full-size pixels; a partial sample step stays inside the band's edge.
    top, left = min(top * step, height - 2), min(left * step, width - 2)
    bottom_edge = max(height - bottom * step, top + 2)
    right_edge = max(width - right * step, left + 2)
    return top, left, bottom_edge - top, right_edge - left


def _polarity(window_image):
    """Mediastinum minus lungs, in the window's units: positive for a radiograph shown
    as usual (bones bright), negative for one stored inverted.

    The frontal chest has the spine and heart in a bright vertical band in the middle
    and the dark lungs on either side; the rows read are those between the clavicles
    and the diaphragm at the training data's framing (25-70% of the height).
    """
    height, width = window_image.shape
    rows = slice(int(0.25 * height), max(int(0.70 * height), int(0.25 * height) + 1))
    centre = window_image[rows, int(0.42 * width):max(int(0.58 * width), int(0.42 * width) + 1)].mean()
    left = window_image[rows, int(0.15 * width):max(int(0.35 * width), int(0.15 * width) + 1)].mean()
    right = window_image[rows, int(0.65 * width):max(int(0.85 * width), int(0.65 * width) + 1)].mean()
    return float(centre - (left + right) / 2)


def normalise(gray, mode="auto", top=None, name="image"):
    """Bring stored values to a float32 image in [0, 1] and say how.

    Parameters
    ----------
    gray : ndarray (H, W)
        Stored values (after a DICOM modality rescale, MONOCHROME1 already inverted).
    mode : 'auto', 'dtype' or (lo, hi)
        'auto': the window from the field of view's 0.5 and 99.5 percentiles, and the
        image flipped if it looks inverted; 'dtype': divide by ``top`` (the data
        type's maximum; by the value range when None), as the paper's 8-bit images
        were read; (lo, hi): that window of stored values, no flip.
    top : float, optional
        The data type's maximum (255, 65535), for 'dtype'.

    Returns
    -------
    image : ndarray float32 (H, W) in [0, 1]
    intensity : Intensity

    Examples
    --------
    >>> from acregnet_cli.datasets.phantom import make_subject
    >>> chest, _ = make_subject(np.random.RandomState(0), 128)
    >>> twelve_bit = np.rint(chest * 4095).astype(np.uint16)
    >>> image, how = normalise(twelve_bit)
    >>> float(image.min()), float(image.max()), how.inverted
    (0.0, 1.0, False)
    >>> bool(np.abs(normalise(4095 - twelve_bit)[0] - image).max() < 1e-6)   # a negative is flipped back
    True
    """
    # The paper's reading works on the values as decoded (float64 for floats and DICOM);
    # the others in float32, which holds every 8- and 16-bit value exactly and halves
    # the memory traffic.
    stored = np.asarray(gray)
    gray = np.asarray(stored, np.float32)
    box = field_of_view(gray) if mode == "auto" else (0, 0) + gray.shape
    inverted = False
    if mode == "dtype":
        if top is None:
            low, high = float(stored.min()), float(stored.max())
        else:
            low, high = 0.0, float(top)
    elif mode == "auto":
        top_, left, height, width = box
        sample, _ = _sample(gray[top_:top_ + height, left:left + width])
        low, high = (float(v) for v in np.percentile(sample, [LOW_PERCENTILE, HIGH_PERCENTILE]))
        if high <= low:
            # A (nearly) two-valued field of view: its whole range, so nothing turns flat.
            low, high = float(sample.min()), float(sample.max())
    else:
        low, high = parse_intensity(mode)
    if high > low and mode == "dtype":
        # The paper's reading, to the bit as before (float64 division, then float32).
        image = np.clip((np.asarray(stored, np.float64) - low) / (high - low), 0.0, 1.0).astype(np.float32)
    elif high > low:
        image = gray - np.float32(low)
        image *= np.float32(1.0 / (high - low))
        np.clip(image, 0.0, 1.0, out=image)
    else:
        image = np.zeros_like(gray)
    if mode == "auto" and high > low:
        top_, left, height, width = box
        sample, _ = _sample(image[top_:top_ + height, left:left + width])
        if _polarity(sample) < 0:
            np.subtract(np.float32(1.0), image, out=image)
            inverted = True
    label = mode if mode in ("auto", "dtype") else "window"
    if not np.all(np.isfinite(image)):
        raise InputError(f"{name}: image holds NaN or infinite values")
    return image, Intensity(label, low, high, inverted, tuple(int(v) for v in box))


# A radiograph shows hundreds of grey levels; a label map or a line drawing a handful.
FEW_LEVELS = 8


def grey_levels(image):
    """How many distinct values a sample of ``image`` (every 7th pixel each way) holds: at
    most :data:`FEW_LEVELS` for a mask or a drawing, hundreds for a radiograph.

    Examples
    --------
    >>> grey_levels(np.eye(64) * 255), grey_levels(np.arange(4096.0).reshape(64, 64)) > FEW_LEVELS
    (2, True)
    """
    return int(np.unique(np.asarray(image)[::7, ::7]).size)

