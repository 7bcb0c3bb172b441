"""Reading and writing images, masks, fields and summaries.

Readers return plain NumPy arrays and raise :class:`InputError` naming the file
and the problem. Writers are atomic: data goes to a temporary file in the target
folder which is then renamed over the target, so a killed process leaves either
the old file or the new one, never a torn one.
"""

import contextlib
import dataclasses
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from acregnet_cli.errors import InputError
from acregnet_cli.io.intensity import Intensity, normalise

# Large hospital exports are legitimate input; the decompression-bomb guard of
# Pillow would reject a 4892 x 4020 radiograph, so it is raised, not removed.
Image.MAX_IMAGE_PIXELS = 20000 * 20000




def _pil_to_gray(image, path):
    """Convert any Pillow image to a 2-D float array and the maximum of its value range."""
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        mode = image.mode
    if mode in ("RGB", "RGBA", "CMYK", "YCbCr", "LAB", "HSV"):
        rgb = np.asarray(image.convert("RGB"), dtype=np.float64)
        # ITU-R 601 luma, as Pillow's own "L" conversion, without its rounding.
        return rgb @ np.array([0.299, 0.587, 0.114]), 255.0
    if mode in ("LA", "La", "PA"):
        return np.asarray(image.getchannel(0), dtype=np.float64), 255.0
    if mode in ("1", "L"):
        return np.asarray(image.convert("L"), dtype=np.float64), 255.0
    if mode.startswith("I;16") or mode == "I":
        array = np.asarray(image).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") or array.max(initial=0) <= 65535 else float(array.max())
        return array, top
    if mode == "F":
        array = np.asarray(image, dtype=np.float64)
        return array, None
    raise InputError(f"{path}: unsupported image mode {mode}")


def is_dicom(path):
    """True for DICOM files: a .dcm/.dicom name or the 'DICM' marker at byte 128."""
    path = Path(path)
    if path.suffix.lower() in (".dcm", ".dicom"):
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def _read_dicom(path):
    """Pixel data of a DICOM radiograph as float64, displayed as a radiograph (bones
    bright): the modality rescale (slope, intercept) applied, and MONOCHROME1 images
    (where low values are bright) inverted."""
    try:
        import pydicom
        from pydicom.pixels import apply_modality_lut
    except ImportError:
        raise InputError(f"{path}: reading DICOM needs pydicom (pip install pydicom)") from None
    try:
        dataset = pydicom.dcmread(str(path))
        pixels = dataset.pixel_array
    except Exception as exc:  # pydicom raises many types for broken or compressed files
        raise InputError(f"{path}: cannot read DICOM pixel data ({exc.__class__.__name__}: {exc})") from None
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        gray = np.asarray(pixels[..., :3], dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
    elif pixels.ndim == 2:
        gray = np.asarray(apply_modality_lut(pixels, dataset), dtype=np.float64)
    else:
        raise InputError(f"{path}: DICOM holds {pixels.ndim}-D pixel data of shape {pixels.shape}; expected one 2-D image")
    if str(dataset.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        gray = gray.max() - gray
    return gray


def stored_shape(path):
    """(rows, columns) of an image file from its header, without decoding the pixels."""
    if is_dicom(path):
        import pydicom

        dataset = pydicom.dcmread(str(path), stop_before_pixels=True)
        return int(dataset.Rows), int(dataset.Columns)
    with Image.open(path) as image:
        return image.size[1], image.size[0]


def probe_image(path):
    """(rows, columns) of an image file, checked without decoding its pixels: the file
    exists, is an image Pillow or pydicom knows, within the pixel limit, and (PNG) its
    chunks are intact. An InputError naming the file otherwise."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {'is a directory' if path.is_dir() else 'file not found'}")
    if is_dicom(path):
        try:
            return stored_shape(path)
        except Exception as exc:  # pydicom raises many types for broken files
            raise InputError(f"{path}: not a readable DICOM file ({exc.__class__.__name__})") from None
    with _pillow_open(path) as image:
        size = image.size
        image.verify()
    return size[1], size[0]


def image_spacing(path):
    """Row pixel spacing in mm recorded in an image file (DICOM only: PixelSpacing, else
    ImagerPixelSpacing, read from the header without the pixels), else None."""
    if not is_dicom(path):
        return None
    import pydicom

    dataset = pydicom.dcmread(str(path), stop_before_pixels=True)
    spacing = dataset.get("PixelSpacing") or dataset.get("ImagerPixelSpacing")
    return float(spacing[0]) if spacing else None


@contextlib.contextmanager
def _pillow_open(path, what="image"):
    """Open ``path`` with Pillow; every way that fails is an InputError naming the file.

    Pillow's decompression-bomb warning (an image over its pixel limit, which it still
    decodes) is an error here, like the bomb error it raises at twice the limit.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                yield image
    except UnidentifiedImageError:
        raise InputError(f"{path}: not a readable {what} (unknown or corrupt format)") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise InputError(f"{path}: {what} larger than {Image.MAX_IMAGE_PIXELS} pixels (a decompression bomb, "
                         "or a radiograph far larger than any detector)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: cannot decode {what} ({' '.join(str(exc).split())})") from None


@dataclasses.dataclass
class Radiograph:
    """A radiograph as read: the [0, 1] image, how it was normalised, its stored size.

    Attributes
    ----------
    image : ndarray float32 (h, w)
        In [0, 1]; reduced by ``factor`` from the stored size when it exceeded ``max_side``.
    bits : int
        8 or 16, the depth to write derived images with.
    intensity : Intensity
        The window and polarity (:mod:`acregnet_cli.io.intensity`).
    stored_shape : tuple
        (rows, columns) of the file's pixels.
    factor : int
        The integer reduction applied (1: none).
    stored : ndarray float32 (h, w) or None
        With ``keep_stored``: the stored values over the data type's range ('dtype'),
        what a resampled copy of the file holds.
    """

    image: np.ndarray
    bits: int
    intensity: Intensity
    stored_shape: tuple
    factor: int = 1
    stored: np.ndarray = None


def load_radiograph(path, max_side=None, intensity="auto", keep_stored=False):
    """Read a radiograph, normalised by its content (default) and reduced if very large.

    Parameters
    ----------
    path : str or Path
    max_side : int, optional
        Images whose longer side exceeds this are reduced by an integer factor
        (box filter) while still in their 8/16-bit form, so that a very large
        export never becomes a huge float array; ``factor`` says by how much, so that
        results can be brought back to the stored size.
    intensity : 'auto', 'dtype' or (lo, hi)
        See :func:`acregnet_cli.io.intensity.normalise` ('dtype': 8-bit over 255, 16-bit
        over 65535, floats and DICOM over their range, MONOCHROME1 inverted).
    keep_stored : bool
        Also keep the 'dtype' reading (``Radiograph.stored``), from the same decode.

    Returns
    -------
    Radiograph

    Raises
    ------
    InputError
        If the file is missing, unreadable, truncated, empty, or holds NaN/inf.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    if path.is_dir():
        raise InputError(f"{path}: is a directory, expected an image file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied")
    factor = 1
    if is_dicom(path):
        gray = _read_dicom(path)
        top, bits = None, 16
        stored = gray.shape
        if max_side and max(gray.shape) > max_side:
            factor = int(np.ceil(max(gray.shape) / max_side))
            gray = _box_reduce(gray, factor)
    else:
        with _pillow_open(path) as image:
            image.load()
            stored = (image.size[1], image.size[0])
            if max_side and max(image.size) > max_side and image.mode not in ("P", "1"):
                if image.mode.startswith("I;16"):
                    # Pillow reduces 32-bit integer images but not the 16-bit modes;
                    # "I" holds every 16-bit value exactly.
                    image = image.convert("I")
                factor = int(np.ceil(max(image.size) / max_side))
                image = image.reduce(factor)
            gray, top = _pil_to_gray(image, path)
            bits = 16 if image.mode.startswith("I") else 8
    _check_gray(gray, path)
    normalised, how = normalise(gray, intensity, top, path)
    kept = None
    if keep_stored:
        kept = normalised if how.mode == "dtype" else normalise(gray, "dtype", top, path)[0]
    return Radiograph(normalised, bits, how, stored, factor, kept)


def read_image(path, max_side=None, intensity="auto"):
    """Read a radiograph as a 2-D float32 array in [0, 1] and the bit depth to write with
    (:func:`load_radiograph` without the record of how).

    Returns
    -------
    image : ndarray, float32, shape (H, W)
    bits : int
        8 or 16.
    """
    radiograph = load_radiograph(path, max_side, intensity)
    return radiograph.image, radiograph.bits


def array_to_gray(array, name="image", intensity="auto"):
    """Bring an image array to a 2-D float32 array in [0, 1] as :func:`read_image` does a file.

    The array is read as the file it would be saved as: colour (H, W, 3 or 4) is
    converted to luminance (ITU-R 601) first; then, with ``intensity='auto'`` (the
    default), the window comes from the image's own content and an inverted image is
    flipped (:func:`acregnet_cli.io.intensity.normalise`). With ``'dtype'``, uint8 (and
    bool) values are divided by 255 (bool: 1), uint16 and other non-negative integers
    by 65535 (a 16-bit PNG; by their maximum where it is larger), and floating-point
    arrays (and negative integers) are rescaled by their range. A palette image must be
    converted to grey or RGB first (``np.asarray(Image.open(path).convert("L"))``): its
    array holds palette indices.

    Parameters
    ----------
    array : array_like
        (H, W) grey, (H, W, 2) grey with alpha, or (H, W, 3 or 4) colour.
    name : str
        How errors name the array.
    intensity : 'auto', 'dtype' or (lo, hi)

    Returns
    -------
    ndarray, float32, shape (H, W)

    Raises
    ------
    InputError
        For other shapes, empty arrays, NaN or infinite values.

    Examples
    --------
    >>> array_to_gray(np.array([[0, 255], [51, 102]], np.uint8), intensity="dtype").tolist()
    [[0.0, 1.0], [0.20000000298023224, 0.4000000059604645]]
    >>> array_to_gray(np.array([[2.0, 4.0], [3.0, 4.0]]), intensity="dtype").tolist()
    [[0.0, 1.0], [0.5, 1.0]]
    """
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        gray = np.asarray(array[..., :3], dtype=np.float64) @ np.array([0.299, 0.587, 0.114])
    elif array.ndim == 3 and array.shape[-1] == 2:
        gray = np.asarray(array[..., 0], dtype=np.float64)
    elif array.ndim == 2:
        gray = np.asarray(array, dtype=np.float64)
    else:
        raise InputError(f"{name}: expected a 2-D grey or (H, W, 3/4) colour image, got shape {array.shape}")
    top = None
    if array.dtype == np.uint8:
        top = 255.0
    elif array.dtype.kind in "ui" and array.size and array.min() >= 0:
        # As a 16- or 32-bit integer image file: by 65535, or by the maximum above it.
        top = max(65535.0, float(array.max()))
    _check_gray(gray, name)
    return normalise(gray, intensity, top, name)[0]


def _check_gray(gray, name):
    """A decoded grey image is 2-D, not empty, and finite; an InputError naming it otherwise."""
    if gray.ndim != 2 or gray.size == 0 or min(gray.shape) < 2:
        raise InputError(f"{name}: empty image (shape {gray.shape})")
    if not np.all(np.isfinite(gray)):
        raise InputError(f"{name}: image holds NaN or infinite values")


def _box_reduce(array, factor):
    height, width = (array.shape[0] // factor) * factor, (array.shape[1] // factor) * factor
    return array[:height, :width].reshape(height // factor, factor, width // factor, factor).mean(axis=(1, 3))


def read_label_map(path):
    """Read a label image (one integer value per class) as a 2-D int32 array."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: mask file not found")
    with _pillow_open(path, "mask") as image:
        if image.format in ("JPEG", "MPO", "JPEG2000"):
            # Lossy compression blurs edges into values between the labels (0..3 gains a 4).
            raise InputError(f"{path}: a {image.format} mask is lossy (its edges hold values between the labels); "
                             "save masks as PNG or TIFF")
        image.load()
        if image.mode in ("RGB", "RGBA"):
            rgb = np.asarray(image.convert("RGB"))
            if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
                raise InputError(f"{path}: colour mask; expected one label value per pixel")
            labels = rgb[..., 0]
        else:
            # Palette masks keep their indices as the labels (the palette's colours are display).
            labels = np.asarray(image)
    if labels.ndim != 2 or labels.size == 0:
        raise InputError(f"{path}: mask must be a 2-D label image, got shape {labels.shape}")
    return check_label_map(labels, path)


# A label map holds a few structures (the datasets here: 2 to 4 values); more distinct
# values than this means a grey image or a lossy (JPEG) mask, not labels.
MAX_LABELS = 64


def check_label_map(labels, name):
    """A label map as int32, or an InputError naming ``name``: NaN, fractional values,
    values beyond int32, or more than :data:`MAX_LABELS` distinct values are refused.

    Examples
    --------
    >>> check_label_map(np.array([[0, 255], [255, 0]], np.uint8), "mask").dtype
    dtype('int32')
    >>> check_label_map(np.array([[0.0, 0.5], [1.0, 1.0]]), "mask")
    Traceback (most recent call last):
    ...
    acregnet_cli.errors.InputError: mask: label map holds fractional values (e.g. 0.5); labels are whole numbers
    """
    labels = np.asarray(labels)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)):
            raise InputError(f"{name}: label map holds NaN or infinite values")
        fractional = labels != np.round(labels)
        if fractional.any():
            raise InputError(f"{name}: label map holds fractional values (e.g. {labels[fractional][0]:g}); "
                             "labels are whole numbers")
    elif labels.dtype.kind not in "uib":
        raise InputError(f"{name}: label map of type {labels.dtype}; expected integer labels")
    if labels.size and (labels.min() < 0 or labels.max() > 65535):
        # Masks are written as 8- or 16-bit PNGs: any other value would come out changed.
        raise InputError(f"{name}: label values from {labels.min():g} to {labels.max():g}; labels are 0 to 65535")
    labels = labels.astype(np.int32)
    values = np.unique(labels)
    if len(values) > MAX_LABELS:
        raise InputError(f"{name}: {len(values)} distinct values, a label map has at most {MAX_LABELS} "
                         "(a grey image, or a mask saved as lossy JPEG?)")
    return labels


def to_bit_depth(image, bits):
    """Quantise a [0, 1] float image to uint8 or uint16."""
    top = 65535 if bits == 16 else 255
    dtype = np.uint16 if bits == 16 else np.uint8
    return np.clip(np.rint(np.asarray(image, dtype=np.float64) * top), 0, top).astype(dtype)



