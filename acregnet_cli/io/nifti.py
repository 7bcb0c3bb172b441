"""Displacement fields as NIfTI-1 files in ITK's convention, written without SimpleITK."""

from pathlib import Path

import numpy as np

from acregnet_cli.io.atomic import atomic_path


def nifti_vector_field_bytes(field, spacing=1.0):
    """Uncompressed NIfTI-1 bytes of a 2-D displacement field in ITK's convention.

    The header is what ITK writes for a 2-D vector image with identity direction:
    dim = (5, W, H, 1, 1, 2), intent NIFTI_INTENT_VECTOR, float32 data with the
    components as the slowest axis, and qform/sform giving ITK's LPS axes in NIfTI's
    RAS frame (x and y negated). Written here, not through SimpleITK, because
    importing SimpleITK cost a single registration a fifth of its time.
    """
    field = np.asarray(field, dtype=np.float32)
    components = np.stack([field[..., 1], field[..., 0]]) * float(spacing)  # (x, y) = (columns, rows)
    return _nifti_bytes(components, spacing, vector=True)


def nifti_scalar_bytes(image, spacing=1.0):
    """Uncompressed NIfTI-1 bytes of a 2-D float image (a Jacobian determinant map) on the
    same grid, in the same frame, as :func:`nifti_vector_field_bytes` writes the field."""
    return _nifti_bytes(np.asarray(image, np.float32)[None], spacing, vector=False)


# NIfTI-1 datatype codes and bits of the arrays written: images and label maps keep their type.
_DATATYPES = {np.dtype(np.uint8): (2, 8), np.dtype(np.uint16): (512, 16), np.dtype(np.float32): (16, 32)}


def write_image_nifti(path, image, spacing=1.0):
    """A 2-D image or label map (uint8, uint16 or float32, kept as such) as NIfTI on the
    fixed image's grid, in the frame of ``field.nii.gz``: what ITK-SNAP and 3D Slicer open
    beside the field (``register --nifti``)."""
    image = np.asarray(image)
    if image.dtype not in _DATATYPES:
        image = image.astype(np.float32)
    _write_nifti(path, _nifti_bytes(image[None], spacing, vector=False), True)


def _nifti_bytes(components, spacing, vector):
    _, height, width = components.shape
    spacing = float(spacing)
    header = np.zeros(1, dtype=_NIFTI1_HEADER)
    header["sizeof_hdr"] = 348
    header["regular"] = b"r"
    header["dim"] = (5, width, height, 1, 1, 2, 1, 1) if vector else (2, width, height, 1, 1, 1, 1, 1)
    header["intent_code"] = 1007 if vector else 0
    dtype = components.dtype if components.dtype in _DATATYPES else np.dtype(np.float32)
    header["datatype"], header["bitpix"] = _DATATYPES[dtype]
    header["pixdim"] = (1.0, spacing, spacing, 1.0, 1.0, 1.0, 1.0, 1.0)
    header["vox_offset"] = 352.0
    header["scl_slope"] = 1.0
    header["xyzt_units"] = 2 | 8  # millimetres, seconds
    header["qform_code"], header["sform_code"] = 1, 1
    header["quatern_d"] = 1.0  # 180 degrees about z: LPS to RAS
    header["srow_x"] = (-spacing, 0.0, 0.0, 0.0)
    header["srow_y"] = (0.0, -spacing, 0.0, 0.0)
    header["srow_z"] = (0.0, 0.0, 1.0, 0.0)
    header["magic"] = b"n+1"
    return header.tobytes() + bytes(4) + components.astype(dtype.newbyteorder("<")).tobytes()


_NIFTI1_HEADER = np.dtype([
    ("sizeof_hdr", "<i4"), ("data_type", "S10"), ("db_name", "S18"), ("extents", "<i4"),
    ("session_error", "<i2"), ("regular", "S1"), ("dim_info", "u1"), ("dim", "<i2", 8),
    ("intent_p1", "<f4"), ("intent_p2", "<f4"), ("intent_p3", "<f4"), ("intent_code", "<i2"),
    ("datatype", "<i2"), ("bitpix", "<i2"), ("slice_start", "<i2"), ("pixdim", "<f4", 8),
    ("vox_offset", "<f4"), ("scl_slope", "<f4"), ("scl_inter", "<f4"), ("slice_end", "<i2"),
    ("slice_code", "u1"), ("xyzt_units", "u1"), ("cal_max", "<f4"), ("cal_min", "<f4"),
    ("slice_duration", "<f4"), ("toffset", "<f4"), ("glmax", "<i4"), ("glmin", "<i4"),
    ("descrip", "S80"), ("aux_file", "S24"), ("qform_code", "<i2"), ("sform_code", "<i2"),
    ("quatern_b", "<f4"), ("quatern_c", "<f4"), ("quatern_d", "<f4"), ("qoffset_x", "<f4"),
    ("qoffset_y", "<f4"), ("qoffset_z", "<f4"), ("srow_x", "<f4", 4), ("srow_y", "<f4", 4),
    ("srow_z", "<f4", 4), ("intent_name", "S16"), ("magic", "S4"),
])
assert _NIFTI1_HEADER.itemsize == 348


def write_field_nifti(path, field, spacing=1.0, overwrite=True):
    """Write a displacement field as an ITK/NIfTI vector image (``.nii`` or ``.nii.gz``).

    ``field`` follows the project's convention (H, W, 2) with channel 0 along rows
    and channel 1 along columns, in pixels. The file follows ITK's: components
    ordered (x, y) = (columns, rows) and expressed in physical units
    (pixels times ``spacing``), so that ITK and elastix tools read it as a
    displacement field directly.
    """
    _write_nifti(path, nifti_vector_field_bytes(field, spacing), overwrite)


def write_scalar_nifti(path, image, spacing=1.0, overwrite=True):
    """Write a 2-D float image as NIfTI (``.nii`` or ``.nii.gz``) on a field's grid."""
    _write_nifti(path, nifti_scalar_bytes(image, spacing), overwrite)


def _write_nifti(path, payload, overwrite):
    import gzip

    with atomic_path(path, overwrite) as tmp:
        if str(path).endswith(".gz"):
            # Level 1: float mantissas barely compress, higher levels only cost time.
            payload = gzip.compress(payload, compresslevel=1, mtime=0)
        Path(tmp).write_bytes(payload)


def _simpleitk():
    """SimpleITK, its C++ warnings (printed straight to standard error) off unless --debug."""
    import SimpleITK as sitk

    from acregnet_cli import runtime

    sitk.ProcessObject.SetGlobalWarningDisplay(runtime.DEBUG)
    return sitk


def read_field_spacing(path):
    """The pixel spacing of a NIfTI field's grid (x), as SimpleITK reads it."""
    sitk = _simpleitk()

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    reader.ReadImageInformation()
    return float(reader.GetSpacing()[0])


# A field has a few hundred million pixels at most (20000 x 20000, the images' limit).
MAX_FIELD_PIXELS = 20000 * 20000


def check_npy_size(path):
    """An InputError unless the .npy header declares an array of at most MAX_FIELD_PIXELS
    x 2 values that the file really holds: the header is read, not trusted."""
    from acregnet_cli.errors import InputError

    try:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = reader(handle)
            offset = handle.tell()
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable .npy field ({' '.join(str(exc).split())})") from None
    count = int(np.prod(shape, dtype=np.float64)) if shape else 1
    if count > 2 * MAX_FIELD_PIXELS:
        raise InputError(f"{path}: declares an array of shape {shape}, more than any field "
                         f"({MAX_FIELD_PIXELS} pixels of 2 components)")
    needed, held = count * dtype.itemsize, Path(path).stat().st_size - offset
    if held < needed:
        raise InputError(f"{path}: declares shape {shape} of {dtype} ({needed} bytes) but holds {held}")


def check_nifti_header(path):
    """An InputError unless the NIfTI-1 header declares a grid of at most MAX_FIELD_PIXELS,
    positive spacing, and data the file (decompressed, read in chunks) really holds."""
    import gzip
    import struct

    from acregnet_cli.errors import InputError

    opener = gzip.open if str(path).endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            header = handle.read(352)
            if len(header) < 348:
                raise InputError(f"{path}: not a NIfTI file (a header of {len(header)} bytes)")
            order = "<" if struct.unpack("<i", header[:4])[0] == 348 else ">"
            if struct.unpack(order + "i", header[:4])[0] != 348:
                raise InputError(f"{path}: not a NIfTI-1 file (header size field is not 348)")
            dims = struct.unpack(order + "8h", header[40:56])
            bitpix = struct.unpack(order + "h", header[72:74])[0]
            pixdim = struct.unpack(order + "8f", header[76:108])
            offset = int(struct.unpack(order + "f", header[108:112])[0])
            rank = dims[0]
            if not 1 <= rank <= 7 or any(d < 1 for d in dims[1:rank + 1]) or bitpix <= 0 or bitpix % 8:
                raise InputError(f"{path}: malformed NIfTI header (dim {dims[:rank + 1]}, bitpix {bitpix})")
            pixels = dims[1] * (dims[2] if rank >= 2 else 1)
            if pixels > MAX_FIELD_PIXELS:
                raise InputError(f"{path}: declares a {dims[1]}x{dims[2]} grid, more than any field "
                                 f"({MAX_FIELD_PIXELS} pixels)")
            if not all(np.isfinite(v) and v > 0 for v in pixdim[1:3]):
                # ITK reads a negative spacing as positive, flipping the field's sign unseen.
                raise InputError(f"{path}: spacing {pixdim[1]:g}, {pixdim[2]:g}; a field's spacing must be positive")
            needed = int(np.prod(dims[1:rank + 1], dtype=np.int64)) * (bitpix // 8) + max(offset, 352) - 352
            held = 0
            while held < needed:
                chunk = handle.read(min(1 << 22, needed - held))
                if not chunk:
                    break
                held += len(chunk)
    except (OSError, EOFError, struct.error, gzip.BadGzipFile) as exc:
        raise InputError(f"{path}: not a readable NIfTI file ({' '.join(str(exc).split())})") from None
    if held < needed:
        raise InputError(f"{path}: declares {needed} bytes of data but holds {held}")


def read_field(path):
    """A displacement field in the project's convention, (H, W, 2) pixels, rows then columns.

    ``path`` is a ``register`` output folder (its ``field.npy``), a ``field.npy``, or a
    NIfTI displacement field in ITK's convention (``field.nii.gz``, or one that
    SimpleITK, elastix's ``transformix -def all`` or ANTs wrote): components (x, y) in
    physical units, converted back to pixels by the image's spacing. Anything else,
    a rotated grid included, is refused in one line naming the file.
    """
    from acregnet_cli.errors import InputError
    from acregnet_cli.fields import check_field

    path = Path(path)
    if path.is_dir():
        path = path / "field.npy"
    if not path.is_file():
        raise InputError(f"{path}: field file not found")
    if path.suffix == ".npy":
        check_npy_size(path)
        try:
            field = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: not a readable .npy field ({' '.join(str(exc).split())})") from None
        return check_field(field, path, dtype=np.float32 if field.dtype == np.float32 else np.float64)
    if not (path.name.endswith(".nii") or path.name.endswith(".nii.gz")):
        raise InputError(f"{path}: expected a register output folder, field.npy or a NIfTI field (.nii, .nii.gz)")
    sitk = _simpleitk()

    check_nifti_header(path)
    try:
        image = sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(f"{path}: not a readable NIfTI file ({str(exc).strip().splitlines()[-1]})") from None
    if image.GetDimension() != 2 or image.GetNumberOfComponentsPerPixel() != 2:
        raise InputError(f"{path}: not a 2-D displacement field (dimension {image.GetDimension()}, "
                         f"{image.GetNumberOfComponentsPerPixel()} component(s) per pixel)")
    if not np.allclose(image.GetDirection(), (1, 0, 0, 1), atol=1e-6):
        raise InputError(f"{path}: the field's grid is rotated (direction {image.GetDirection()}); "
                         "only axis-aligned fields are read")
    array = sitk.GetArrayFromImage(image)  # (H, W, 2): x then y, physical
    spacing_x, spacing_y = image.GetSpacing()
    # A float32 file stays float32 (as register saved it); other types are read as float64.
    dtype = np.float32 if array.dtype == np.float32 else np.float64
    field = np.stack([array[..., 1] / dtype(spacing_y), array[..., 0] / dtype(spacing_x)], axis=-1)
    return check_field(field, path, dtype=dtype)
