"""What clinicians read off lung and heart masks: areas, widths, the cardiothoracic ratio.

A label map names its structures by value. :func:`structures_of` says which value is
which: the SCR convention of JSRT (1 the patient's left lung, on the image's right; 2
the right lung; 3 the heart), or lungs in one label (Montgomery, Shenzhen: 0 and 255),
split into the two largest connected parts, the one on the image's left being the
patient's right lung. Sides are always the patient's, as in CheXmask.

The cardiothoracic ratio (CTR) is the heart's maximal transverse diameter over the
thorax's maximal internal transverse diameter on a frontal film. From masks: the heart's
horizontal extent (its leftmost to its rightmost column, the sum of the right and left
heart diameters measured from any vertical midline) over the horizontal extent of the two
lungs together (their outer borders follow the inner margin of the ribs). Each
structure's largest connected part is measured, so that a stray island does not widen it.
"""

import numpy as np
from scipy import ndimage

from acregnet_cli.errors import InputError

STRUCTURES = ("right lung", "left lung", "heart")
# The SCR convention of JSRT (and of the bundled models' masks).
SCR_VALUES = {"left lung": 1, "right lung": 2, "heart": 3}


def parse_structures(text):
    """``--structures 'right lung=2,left lung=1,heart=3'`` as a dict of name to value
    (a structure may be left out; lungs may share a value).

    Examples
    --------
    >>> parse_structures("right lung=2, left lung=1, heart=3")
    {'right lung': 2, 'left lung': 1, 'heart': 3}
    """
    found = {}
    for item in str(text).split(","):
        name, _, value = item.partition("=")
        name = " ".join(name.split()).lower()
        if name not in STRUCTURES or not value.strip().isdigit():
            raise InputError(f"--structures: expected NAME=VALUE pairs with names among {', '.join(STRUCTURES)}, "
                             f"got {item.strip()!r}")
        found[name] = int(value)
    return found


def chexmask_groups(values):
    """Label values of the lungs and of the heart in a label set, for CheXmask's RCA score
    (the Dice of both lungs as one, averaged with the heart's where there is one).

    Examples
    --------
    >>> chexmask_groups([0, 1, 2, 3]), chexmask_groups([0, 255])
    (([1, 2], [3]), ([255], []))
    """
    present = [int(v) for v in values if v != 0]
    if set(present) <= {1, 2, 3}:
        return [v for v in present if v in (1, 2)], [v for v in present if v == 3]
    return present, []


def _largest(mask):
    """The largest connected part of ``mask``, labelled within its bounding box only."""
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(columns[0], columns[-1] + 1))
    labelled, count = ndimage.label(mask[box])
    if count <= 1:
        return mask
    sizes = np.bincount(labelled.ravel())[1:]
    largest = np.zeros_like(mask)
    largest[box] = labelled == 1 + int(np.argmax(sizes))
    return largest


def _split_lungs(mask):
    """(right, left) lungs of a mask holding both: its two largest parts by the image side
    they lie on; one part only is cut at its bounding box's middle column."""
    labelled, count = ndimage.label(mask)
    if count >= 2:
        sizes = np.bincount(labelled.ravel())[1:]
        first, second = (1 + np.argsort(sizes)[::-1][:2]).tolist()
        parts = [labelled == first, labelled == second]
        parts.sort(key=lambda part: np.nonzero(part)[1].mean())
        return parts[0], parts[1]
    columns = np.nonzero(mask.any(axis=0))[0]
    if columns.size == 0:
        return mask, mask
    middle = (columns[0] + columns[-1] + 1) // 2
    right, left = mask.copy(), mask.copy()
    right[:, middle:] = False
    left[:, :middle] = False
    return right, left


def structures_of(label_map, values=None, largest=False):
    """Boolean masks of the right lung, left lung and heart found in ``label_map`` (those
    absent are None), by ``values`` (name to label value; default: the SCR convention
    when the map's values are among 0-3, else both lungs in the one non-zero value).
    With ``largest``, each structure's largest connected part only.

    Examples
    --------
    >>> both = np.zeros((6, 8), np.uint8); both[1:5, 1:3] = both[1:5, 5:7] = 255
    >>> right, left, heart = structures_of(both)
    >>> int(np.nonzero(right)[1].max()), int(np.nonzero(left)[1].min()), heart is None
    (2, 5, True)
    """
    label_map = np.asarray(label_map)
    if label_map.dtype.kind in "ub" and label_map.dtype.itemsize <= 2:
        # Counting is several times faster than sorting for 8- and 16-bit label maps.
        present = np.flatnonzero(np.bincount(label_map.ravel()))[1:].tolist() if label_map.size else []
        present = [v for v in present if v != 0]
    else:
        present = [int(v) for v in np.unique(label_map) if v != 0]
    if values is None:
        if set(present) <= {1, 2, 3}:
            values = SCR_VALUES
        elif len(present) == 1:
            values = {"right lung": present[0], "left lung": present[0]}
        else:
            raise InputError(f"label values {present}: give --structures (e.g. 'right lung=2,left lung=1,heart=3')")
    found = {name: (label_map == value) if value in present else None for name, value in values.items()}
    right, left = found.get("right lung"), found.get("left lung")
    if right is not None and left is not None and values["right lung"] == values["left lung"]:
        right, left = _split_lungs(right)
    parts = [right, left, found.get("heart")]
    return tuple(None if part is None or not part.any() else _largest(part) if largest else part for part in parts)


def _extent(mask, axis):
    """(first, last) index along ``axis`` (1: columns) where ``mask`` has pixels, and the
    row (or column) at which each is reached."""
    lines = np.flatnonzero(mask.any(axis=1 - axis))
    first, last = int(lines[0]), int(lines[-1])
    reached = [np.flatnonzero(np.take(mask, line, axis=axis)) for line in (first, last)]
    return first, last, int(reached[0][0]), int(reached[1][0])


def measure(label_map, spacing=None, values=None):
    """Areas, widths, heights and the cardiothoracic ratio of one label map.

    Parameters
    ----------
    label_map : ndarray (H, W)
    spacing : float or (row, column) pair, optional
        Pixel size in mm; without it lengths are in pixels and areas in pixels.
    values : dict, optional
        Structure name to label value (see :func:`structures_of`).

    Returns
    -------
    dict
        ``<structure>_area`` (mm² or px), ``thoracic_width``, ``heart_width``, ``ctr``,
        ``right_lung_height``, ``left_lung_height``, ``lung_height_ratio`` (right over
        left), ``unit`` ('mm' or 'px'), and ``where``: the rows and columns each width
        was measured at, for a figure. Values that need an absent structure are None.

    Examples
    --------
    >>> labels = np.zeros((10, 20), np.uint8)
    >>> labels[1:9, 2:8], labels[1:7, 12:18], labels[5:9, 7:13] = 2, 1, 3
    >>> m = measure(labels, spacing=0.5)
    >>> m["thoracic_width"], m["heart_width"], m["ctr"], m["lung_height_ratio"]
    (8.0, 3.0, 0.375, 1.3333)
    """
    rows_mm, columns_mm = (1.0, 1.0) if spacing is None else \
        (tuple(map(float, spacing)) if np.ndim(spacing) else (float(spacing),) * 2)
    right, left, heart = structures_of(label_map, values, largest=True)
    result = {"unit": "px" if spacing is None else "mm"}
    for name, part in zip(STRUCTURES, (right, left, heart)):
        result[f"{name.replace(' ', '_')}_area"] = None if part is None else \
            round(float(part.sum()) * rows_mm * columns_mm, 3)
    where = {}
    lungs = None if right is None and left is None else \
        np.logical_or(right if right is not None else False, left if left is not None else False)
    for key, part in (("thoracic_width", lungs), ("heart_width", heart)):
        if part is None:
            result[key] = None
            continue
        first, last, row_first, row_last = _extent(part, 1)
        result[key] = round((last - first + 1) * columns_mm, 3)
        where[key] = {"columns": [first, last], "rows": [row_first, row_last]}
    for name, part in (("right_lung", right), ("left_lung", left)):
        if part is None:
            result[f"{name}_height"] = None
            continue
        first, last, _, _ = _extent(part, 0)
        result[f"{name}_height"] = round((last - first + 1) * rows_mm, 3)
    ctr = None
    if result["heart_width"] is not None and result["thoracic_width"]:
        ctr = round(result["heart_width"] / result["thoracic_width"], 4)
    ratio = None
    if result["right_lung_height"] and result["left_lung_height"]:
        ratio = round(result["right_lung_height"] / result["left_lung_height"], 4)
    result.update(ctr=ctr, lung_height_ratio=ratio, where=where)
    return result
