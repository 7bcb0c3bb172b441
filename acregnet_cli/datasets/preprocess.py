"""From the layouts public chest X-ray datasets are distributed in to the authors' layout.

Supported source layouts:

- ``jsrt-scr``: ``images/<name>.png`` (or ``<name>.IMG``: 2048x2048 raw 12-bit
  big-endian values, no header) with SCR masks ``masks/{left lung,right lung,heart}/<name>.gif``;
- ``montgomery``: ``CXR_png/<name>.png`` with ``ManualMask/{leftMask,rightMask}/<name>.png``;
- ``shenzhen``: ``CXR_png/<name>.png`` with ``mask/<name>_mask.png``.

Output (readable by the training and evaluation commands)::

    OUT/data/<Name>/LR_<size>/images/<name>.png
    OUT/data/<Name>/LR_<size>/labels/<name>.png
    OUT/data/<Name>/split/{train,validation,test}_{images,labels}_<size>.txt
    OUT/<name>.toml
"""

from pathlib import Path

import numpy as np
from skimage.transform import resize

from acregnet_cli.errors import InputError
from acregnet_cli.io.atomic import write_png_atomic, write_text_atomic
from acregnet_cli.io.images import read_image, read_label_map, to_bit_depth
from acregnet_cli.options import LAYOUTS

JSRT_IMG_SIDE = 2048
JSRT_IMG_MAX = 4095.0

_DATASET_FACTS = {
    # layout: (dataset folder name, label values, class names, standard pixels, spacing mm, unit)
    "jsrt-scr": ("JSRT", [0, 1, 2, 3], ["background", "left lung", "right lung", "heart"], 2048, 0.175, "mm"),
    "montgomery": ("Montgomery", [0, 255], ["background", "lungs"], 4892, 0.0875, "mm"),
    "shenzhen": ("Shenzhen", [0, 255], ["background", "lungs"], 3000, 1.0, "px"),
}


def read_jsrt_img(path, invert=True):
    """Read a JSRT ``.IMG`` file: 2048x2048 big-endian 16-bit words holding 12-bit values.

    The raw values are stored so that dense tissue is dark; ``invert=True`` (the
    default) returns the usual radiograph display (bones bright) as ``1 - v/4095``.

    Returns
    -------
    ndarray float32 (2048, 2048) in [0, 1]
    """
    path = Path(path)
    expected = JSRT_IMG_SIDE * JSRT_IMG_SIDE * 2
    size = path.stat().st_size if path.exists() else -1
    if size < 0:
        raise InputError(f"{path}: file not found")
    if size != expected:
        raise InputError(f"{path}: JSRT .IMG must hold {expected} bytes (2048x2048 16-bit), found {size}")
    values = np.fromfile(path, dtype=">u2").reshape(JSRT_IMG_SIDE, JSRT_IMG_SIDE).astype(np.float32)
    if values.max() > JSRT_IMG_MAX:
        raise InputError(f"{path}: values above 4095; not a 12-bit JSRT image")
    image = values / JSRT_IMG_MAX
    return 1.0 - image if invert else image


def detect_layout(source):
    """Guess the layout of a source folder (see the module docstring)."""
    source = Path(source)
    if (source / "masks" / "heart").is_dir() and (source / "images").is_dir():
        return "jsrt-scr"
    if (source / "CXR_png").is_dir() and (source / "ManualMask").is_dir():
        return "montgomery"
    if (source / "CXR_png").is_dir() and (source / "mask").is_dir():
        return "shenzhen"
    raise InputError(f"{source}: unknown layout (expected images/ + masks/ of JSRT-SCR, "
                     "CXR_png/ + ManualMask/ of Montgomery, or CXR_png/ + mask/ of Shenzhen)")


def _binary(path):
    return read_label_map(path) > 0


def _subjects(source, layout):
    """(name, image path, function returning the label map at image resolution)."""
    source = Path(source)
    subjects = []
    if layout == "jsrt-scr":
        files = sorted(list((source / "images").glob("*.png")) + list((source / "images").glob("*.IMG")))
        for image_path in files:
            name = image_path.stem
            parts = {value: source / "masks" / folder / f"{name}.gif"
                     for value, folder in ((1, "left lung"), (2, "right lung"), (3, "heart"))}
            subjects.append((name, image_path, parts))
    elif layout == "montgomery":
        for image_path in sorted((source / "CXR_png").glob("*.png")):
            name = image_path.stem
            parts = {255: [source / "ManualMask" / "leftMask" / f"{name}.png",
                           source / "ManualMask" / "rightMask" / f"{name}.png"]}
            subjects.append((name, image_path, parts))
    else:
        for image_path in sorted((source / "CXR_png").glob("*.png")):
            name = image_path.stem
            subjects.append((name, image_path, {255: [source / "mask" / f"{name}_mask.png"]}))
    if not subjects:
        raise InputError(f"{source}: no images found for layout {layout}")
    return subjects


def _load_subject(image_path, parts, invert_img=True):
    if image_path.suffix.upper() == ".IMG":
        image = read_jsrt_img(image_path, invert=invert_img)
    else:
        # Converted as the authors converted theirs (the data type's range), so that
        # preprocessed data matches the data the bundled models were trained on.
        image, _ = read_image(image_path, intensity="dtype")
    labels = None
    for value, paths in parts.items():
        paths = paths if isinstance(paths, list) else [paths]
        for mask_path in paths:
            if not mask_path.exists():
                raise InputError(f"{image_path}: mask not found: {mask_path}")
            mask = _binary(mask_path)
            if labels is None:
                labels = np.zeros(mask.shape, np.uint8)
            if mask.shape != labels.shape:
                raise InputError(f"{mask_path}: mask is {mask.shape}, other masks {labels.shape}")
            labels[mask] = value
    if image.shape != labels.shape:
        # SCR masks are 1024x1024 for 2048x2048 JSRT images: the image is brought to the masks.
        image = resize(image, labels.shape, order=1, anti_aliasing=True, preserve_range=True).astype(np.float32)
    return image, labels


def pad_square(array):
    """Pad to square with zeros (background), keeping the content centred."""
    height, width = array.shape
    side = max(height, width)
    top, left = (side - height) // 2, (side - width) // 2
    out = np.zeros((side, side), array.dtype)
    out[top:top + height, left:left + width] = array
    return out


def resize_pair(image, labels, size):
    """Image bilinear (half-pixel centres, no smoothing), labels nearest neighbour."""
    small = resize(image, (size, size), order=1, anti_aliasing=False, preserve_range=True)
    small_labels = resize(labels, (size, size), order=0, anti_aliasing=False, preserve_range=True)
    return small.astype(np.float32), small_labels.astype(labels.dtype)


def seeded_split(names, seed=0, fractions=(0.6, 0.2, 0.2)):
    """Split names into train/validation/test by a seeded permutation (60/20/20 by default)."""
    order = np.random.RandomState(seed).permutation(len(names))
    n_train = int(round(fractions[0] * len(names)))
    n_validation = int(round(fractions[1] * len(names)))
    chosen = [names[i] for i in order]
    return {"train": sorted(chosen[:n_train]), "validation": sorted(chosen[n_train:n_train + n_validation]),
            "test": sorted(chosen[n_train + n_validation:])}


def read_given_split(folder, names):
    """Split lists given as text files ``{train,validation,test}.txt`` of names (or paths)."""
    split = {}
    for fold in ("train", "validation", "test"):
        path = Path(folder) / f"{fold}.txt"
        if path.exists():
            entries = [Path(line.strip()).stem.replace("_mask", "") for line in path.read_text().splitlines() if line.strip()]
            unknown = sorted(set(entries) - set(names))
            if unknown:
                raise InputError(f"{path}: names not in the source: {', '.join(unknown[:5])}")
            split[fold] = entries
    if "train" not in split or "test" not in split:
        raise InputError(f"{folder}: needs at least train.txt and test.txt")
    return split


def parse_sizes(text):
    """Output sizes from the command line's comma-separated text, e.g. ``"256,64"``."""
    try:
        sizes = [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise InputError(f"--sizes {text!r}: expected integers separated by commas") from None
    if not sizes or any(not 8 <= size <= 4096 for size in sizes):
        raise InputError(f"--sizes {text!r}: each size must be from 8 to 4096 pixels")
    return sizes


def preprocess(source, output, layout=None, sizes=(256, 64), seed=0, split_dir=None, align_to=None,
               invert_img=True, overwrite=False, echo=None):
    """Convert a dataset from its distributed layout to the authors' layout.

    Parameters
    ----------
    source, output : Path
    layout : str or None
        One of ``LAYOUTS``; detected from the folder when None.
    sizes : sequence of int
    seed : int
        Seed of the 60/20/20 split (when ``split_dir`` is None).
    split_dir : Path or None
        Folder with ``train.txt``, ``test.txt`` (and ``validation.txt``) naming the subjects.
    align_to : str or None
        Name of a subject to align every image to with a similarity transform (elastix).
    invert_img : bool
        Invert JSRT ``.IMG`` values for display (see :func:`read_jsrt_img`).

    Returns
    -------
    dict : dataset config path, split sizes, subjects.
    """
    source, output = Path(source), Path(output)
    layout = layout or detect_layout(source)
    if layout not in LAYOUTS:
        raise InputError(f"unknown layout {layout!r}: choose one of {', '.join(LAYOUTS)}")
    folder, label_values, class_names, std_pixels, spacing, unit = _DATASET_FACTS[layout]
    config_path = output / f"{folder.lower()}.toml"
    if config_path.exists() and not overwrite:
        raise InputError(f"{output}: holds a preprocessed {folder} already (use --overwrite to replace it)")
    subjects = _subjects(source, layout)
    names = [name for name, _, _ in subjects]
    split = read_given_split(split_dir, names) if split_dir else seeded_split(names, seed)
    loaded = {}
    for name, image_path, parts in subjects:
        image, labels = _load_subject(image_path, parts, invert_img)
        loaded[name] = (pad_square(image), pad_square(labels))
    if align_to is not None:
        if align_to not in loaded:
            raise InputError(f"--align-to {align_to}: no such subject in {source}")
        from acregnet_cli.datasets.alignment import align_similarity

        reference = loaded[align_to][0]
        for name in names:
            if name != align_to:
                image, labels = loaded[name]
                loaded[name] = align_similarity(image, labels, reference)
    base = output / "data" / folder
    for name in names:
        image, labels = loaded[name]
        for size in sizes:
            small, small_labels = resize_pair(image, labels, size)
            write_png_atomic(base / f"LR_{size}" / "images" / f"{name}.png", to_bit_depth(small, 8))
            write_png_atomic(base / f"LR_{size}" / "labels" / f"{name}.png", small_labels.astype(np.uint8))
        if echo:
            echo(f"{name}")
    for fold, chosen in split.items():
        for size in sizes:
            for kind in ("images", "labels"):
                lines = [f"data/{folder}/LR_{size}/{kind}/{n}.png" for n in chosen]
                write_text_atomic(base / "split" / f"{fold}_{kind}_{size}.txt", "\n".join(lines) + ("\n" if lines else ""))
    write_text_atomic(config_path, (
        f"# {folder} preprocessed by `acregnet preprocess` from {source}\n"
        f'name = "{folder.lower()}"\ndirectory = "data/{folder}"\nsizes = {list(sizes)}\n'
        f"label_values = {label_values}\nclass_names = {class_names}\n".replace("'", '"')
        + f"standard_pixels = {std_pixels}\nstandard_spacing_mm = {spacing}\ndistance_unit = \"{unit}\"\n"
    ))
    return {"dataset_config": str(config_path), "layout": layout, "subjects": len(names),
            "split": {fold: len(chosen) for fold, chosen in split.items()}}
