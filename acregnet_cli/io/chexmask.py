"""Tables in the CheXmask database's layout: read (checked) and written.

One row per image: an image id column (named by the dataset: ``Image Index``,
``Path``, ``dicom_id``, ``ImageID`` or ``image_id``), ``Dice RCA (Mean)`` and ``Dice
RCA (Max)``, the masks ``Right Lung``, ``Left Lung`` and ``Heart`` as run-length strings
(:func:`acregnet_cli.io.rle.chexmask_encode`; sides are the patient's, the right lung on
the image's left) and the frame ``Height`` and ``Width``. Columns are found by name.
As label maps, the masks take the SCR values of the bundled models (right lung 2, left
lung 1, heart 3; the heart drawn over the lungs where CheXmask's polygons overlap).
"""

import csv
import io
import math
from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError
from acregnet_cli.io.rle import chexmask_decode, chexmask_encode, chexmask_runs

ID_COLUMNS = ("Image Index", "Path", "dicom_id", "ImageID", "image_id")
MASK_COLUMNS = {"Right Lung": 2, "Left Lung": 1, "Heart": 3}
RCA_COLUMNS = ("Dice RCA (Mean)", "Dice RCA (Max)")
# What a frame may be: CheXmask's largest images are about 4,000 px a side.
_MAX_SIDE = 16384


def is_chexmask_table(path):
    """Whether ``path`` is given as a table (a .csv file): its columns are checked on reading."""
    path = Path(path)
    return path.suffix.lower() == ".csv" and path.is_file()


def read_chexmask(path, keep=None):
    """The rows of a CheXmask table, read one by one and checked: yields (image id, load,
    RCA dict), ``load()`` decoding the row's masks into a label map when called.

    ``keep``, a predicate on the image id, skips the other rows unread (a CheXmask table
    holds up to 243,334 images; a user compares the few of their own corpus). Every cell
    of a kept row is checked; a bad one is an InputError naming the file, the line and
    the column (the header before any row).
    """
    from acregnet_cli.io.tables import iter_table

    path = Path(path)
    # A run-length string of a 4,000 px mask is tens of kilobytes: past csv's default cap.
    csv.field_size_limit(max(csv.field_size_limit(), 64 * 1024 * 1024))
    columns, records = iter_table(path, "CheXmask table")
    id_column = next((name for name in ID_COLUMNS if name in columns), None)
    missing = [name for name in list(MASK_COLUMNS) + ["Height", "Width"] if name not in columns]
    if id_column is None or missing:
        need = missing + ([f"an image id ({', '.join(ID_COLUMNS)})"] if id_column is None else [])
        raise InputError(f"{path}: not a CheXmask table: no column {', '.join(need)}")
    for line, record in records:
        if keep is not None and not keep(record[id_column]):
            continue
        where = f"{path}: line {line}"
        frame = _frame(record, where)
        rca = _rca(record, columns, where)
        runs = {name: record.get(name) for name in MASK_COLUMNS}
        for name, text in runs.items():
            # The strings are checked now (cheaply) so that a bad table fails before any work.
            chexmask_runs(text, *frame, where=f"{where}, column {name}")
        yield record[id_column], (lambda runs=runs, frame=frame, where=where: _labels(runs, frame, where)), rca


def _frame(record, where):
    frame = []
    for name in ("Height", "Width"):
        value = (record.get(name) or "").strip()
        if not value.isdigit() or not 1 <= int(value) <= _MAX_SIDE:
            raise InputError(f"{where}, column {name}: expected a whole number of pixels (1 to {_MAX_SIDE}), "
                             f"got {value[:20]!r}")
        frame.append(int(value))
    return tuple(frame)


def _rca(record, columns, where):
    rca = {}
    for name in RCA_COLUMNS:
        if name in columns and (record.get(name) or "").strip():
            try:
                rca[name] = float(record[name])
            except ValueError:
                rca[name] = math.nan
            if not 0.0 <= rca[name] <= 1.0:
                raise InputError(f"{where}, column {name}: expected a Dice in [0, 1], got {record[name][:20]!r}")
    if len(rca) == 2 and rca[RCA_COLUMNS[0]] > rca[RCA_COLUMNS[1]] + 1e-9:
        raise InputError(f"{where}: 'Dice RCA (Mean)' {rca[RCA_COLUMNS[0]]:g} exceeds 'Dice RCA (Max)' "
                         f"{rca[RCA_COLUMNS[1]]:g}: the two columns are swapped (as in early PadChest files)")
    return rca


def _labels(runs, frame, where):
    labels = np.zeros(frame, np.uint8)
    for name, value in MASK_COLUMNS.items():
        labels[chexmask_decode(runs[name], *frame, where=f"{where}, column {name}")] = value
    return labels


def chexmask_row(image_id, label_map, rca_mean=None, rca_max=None, values=None, id_column="Path"):
    """One CheXmask table row (a dict) of a label map (structures found by
    :func:`acregnet_cli.anatomy.structures_of`)."""
    from acregnet_cli.anatomy import structures_of

    right, left, heart = structures_of(label_map, values)
    row = {id_column: image_id, RCA_COLUMNS[0]: "" if rca_mean is None else f"{rca_mean:.5f}",
           RCA_COLUMNS[1]: "" if rca_max is None else f"{rca_max:.5f}"}
    for name, part in zip(MASK_COLUMNS, (right, left, heart)):
        row[name] = "" if part is None else chexmask_encode(part)
    row["Height"], row["Width"] = np.shape(label_map)
    return row


def chexmask_text(rows, id_column="Path"):
    """The CSV text of :func:`chexmask_row` rows, CheXmask's columns in its order."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=[id_column, *RCA_COLUMNS, *MASK_COLUMNS, "Height", "Width"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()
