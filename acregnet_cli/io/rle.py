"""Run-length strings of binary masks, in the two forms the field exchanges them.

**CheXmask** (the CheXmask database's tables): the (H, W) mask read in row-major
order; runs of foreground as "start length" pairs separated by spaces, starts counted
from 1; an empty mask is an empty string.

**COCO** compressed RLE (pycocotools, the COCO and CXAS JSON files): the mask read in
column-major order; alternating run lengths starting with background; each length from
the third on stored as its difference to the length two before; each number written
five bits at a time, low bits first, as characters from '0' (48) on, bit 0x20 saying
that more follow and bit 0x10 of the last carrying the sign.
"""

import numpy as np

from acregnet_cli.errors import InputError


def _runs(flat):
    """Starts (0-based) and lengths of the runs of True in a 1-D boolean array."""
    padded = np.concatenate([[False], flat, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[::2], edges[1::2] - edges[::2]


def chexmask_encode(mask):
    """CheXmask's run-length string of a binary (H, W) mask.

    Examples
    --------
    >>> chexmask_encode(np.array([[0, 1, 1], [1, 0, 0]]))
    '2 3'
    >>> chexmask_encode(np.zeros((2, 2)))
    ''
    """
    starts, lengths = _runs(np.asarray(mask, bool).ravel())
    return " ".join(f"{start + 1} {length}" for start, length in zip(starts.tolist(), lengths.tolist()))


def chexmask_runs(text, height, width, where="run-length string"):
    """The (0-based starts, lengths) of a CheXmask run-length string, checked against the
    frame; an empty string, None or NaN has none. An InputError naming ``where`` if the
    string is not whole-number pairs, or a run leaves the frame, overlaps or is out of order.

    Examples
    --------
    >>> [a.tolist() for a in chexmask_runs("2 3", 2, 3)]
    [[1], [3]]
    """
    none = np.zeros(0, np.int64)
    if text is None or (isinstance(text, float) and np.isnan(text)) or not str(text).strip():
        return none, none
    parts = str(text).split()
    if len(parts) % 2 or not all(part.isdigit() for part in parts):
        raise InputError(f"{where}: expected 'start length' pairs of whole numbers, got {str(text)[:40]!r}")
    numbers = np.array(parts, np.int64).reshape(-1, 2)
    starts, lengths = numbers[:, 0] - 1, numbers[:, 1]
    if (starts < 0).any() or (lengths < 1).any() or (starts + lengths > int(height) * int(width)).any():
        raise InputError(f"{where}: a run lies outside the {width}x{height} frame (starts count from 1)")
    if (starts[1:] < starts[:-1] + lengths[:-1]).any():
        raise InputError(f"{where}: runs overlap or are not in order")
    return starts, lengths


def chexmask_decode(text, height, width, where="run-length string"):
    """The (H, W) boolean mask of a CheXmask run-length string (an empty string, None or
    NaN: an empty mask); an InputError naming ``where`` if it does not fit the frame
    (:func:`chexmask_runs`).

    Examples
    --------
    >>> chexmask_decode("2 3", 2, 3).astype(int).tolist()
    [[0, 1, 1], [1, 0, 0]]
    """
    starts, lengths = chexmask_runs(text, height, width, where)
    size = int(height) * int(width)
    # Each run adds +1 at its start and -1 past its end; the running sum is the mask.
    steps = np.zeros(size + 1, np.int64)
    np.add.at(steps, starts, 1)
    np.add.at(steps, starts + lengths, -1)
    return (np.cumsum(steps[:-1]) > 0).reshape(int(height), int(width))


def coco_counts(mask):
    """Uncompressed COCO run lengths of a binary (H, W) mask (column-major, background first).

    Examples
    --------
    >>> coco_counts(np.array([[0, 1, 1], [1, 0, 0]]))  # read down the columns: 0 1, 1 0, 1 0
    [1, 2, 1, 1, 1]
    """
    flat = np.asarray(mask, bool).ravel(order="F")
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate([[0], edges, [flat.size]])
    counts = np.diff(bounds).tolist()
    return ([0] + counts) if flat.size and flat[0] else counts


def coco_encode(mask):
    """pycocotools' compressed RLE of a binary (H, W) mask: ``{"size": [H, W], "counts": str}``.

    Examples
    --------
    >>> coco_encode(np.array([[0, 1, 1], [1, 0, 0]]))
    {'size': [2, 3], 'counts': '121O0'}
    """
    counts = coco_counts(mask)
    characters = []
    for index, value in enumerate(counts):
        value = value - counts[index - 2] if index > 2 else value
        while True:
            chunk = value & 0x1F
            value >>= 5
            more = value != -1 if chunk & 0x10 else value != 0
            characters.append(chr(chunk + 48 + (0x20 if more else 0)))
            if not more:
                break
    height, width = np.shape(mask)
    return {"size": [int(height), int(width)], "counts": "".join(characters)}


def coco_decode(rle):
    """The (H, W) boolean mask of a compressed (or uncompressed, a list) COCO RLE.

    Examples
    --------
    >>> coco_decode({"size": [2, 3], "counts": "121O0"}).astype(int).tolist()
    [[0, 1, 1], [1, 0, 0]]
    """
    height, width = rle["size"]
    counts = rle["counts"]
    if isinstance(counts, str):
        numbers, position = [], 0
        while position < len(counts):
            value = shift = 0
            while True:
                chunk = ord(counts[position]) - 48
                position += 1
                value |= (chunk & 0x1F) << shift
                shift += 5
                if not chunk & 0x20:
                    if chunk & 0x10:
                        value -= 1 << shift  # the sign bit: a negative difference
                    break
            numbers.append(value + numbers[-2] if len(numbers) > 2 else value)
        counts = numbers
    if sum(counts) != height * width or min(counts, default=0) < 0:
        raise InputError(f"COCO run lengths sum to {sum(counts)}, the frame has {height * width} pixels")
    values = np.repeat(np.arange(len(counts)) % 2 == 1, counts)
    return values.reshape((width, height)).T
