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
from acregnet_cli.io.rle import chexmask_decode, chexmask_encode

ID_COLUMNS = ("Image Index", "Path", "dicom_id", "ImageID", "image_id")
MASK_COLUMNS = {"Right Lung": 2, "Left Lung": 1, "Heart": 3}
RCA_COLUMNS = ("Dice RCA (Mean)", "Dice RCA (Max)")
# What a frame may be: CheXmask's largest images are about 4,000 px a side.
_MAX_SIDE = 16384


def is_chexmask_table(path):
    """Whether ``path`` is given as a table (a .csv file): its columns are checked on reading."""
    path = Path(path)
    return path.suffix.lower() == ".csv" and path.is_file()


def read_chexmask(path):
    """The rows of a CheXmask table, checked: yields (image id, label map, RCA dict).

    Every cell is checked as it is read; a bad one is an InputError naming the file,
    the line and the column (a wrong header before any row is used).
    """
    from acregnet_cli.io.tables import read_table

    path = Path(path)
    columns, records = read_table(path, "CheXmask table")
    id_column = next((name for name in ID_COLUMNS if name in columns), None)
    missing = [name for name in list(MASK_COLUMNS) + ["Height", "Width"] if name not in columns]
    if id_column is None or missing:
        need = missing + ([f"an image id ({', '.join(ID_COLUMNS)})"] if id_column is None else [])
        raise InputError(f"{path}: not a CheXmask table: no column {', '.join(need)}")
    for line, record in enumerate(records, 2):
        where = f"{path}: line {line}"
        frame = []
        for name in ("Height", "Width"):
            value = (record.get(name) or "").strip()
            if not value.isdigit() or not 1 <= int(value) <= _MAX_SIDE:
                raise InputError(f"{where}, column {name}: expected a whole number of pixels (1 to {_MAX_SIDE}), "
                                 f"got {value[:20]!r}")
            frame.append(int(value))
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
        labels = np.zeros(frame, np.uint8)
        for name, value in MASK_COLUMNS.items():
            mask = chexmask_decode(record.get(name), *frame, where=f"{where}, column {name}")
            labels[mask] = value
        yield record[id_column], labels, rca


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
