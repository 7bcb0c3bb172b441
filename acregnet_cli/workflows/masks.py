"""Masks in the field's formats and what is read off them: ``export`` (CheXmask table,
COCO run-length JSON), ``measure`` (areas, widths, cardiothoracic ratio) and ``score``
(Dice and Hausdorff distance per structure against other masks, e.g. CheXmask's).

A mask source is a PNG label map, a folder of them, a CheXmask table, or a ``corpus``
output folder (its ``corpus.csv`` names each image's mask and RCA scores).
"""

import csv
import io
import json
from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError

MASK_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")
FORMATS = ("chexmask", "coco")


def _key(image_id):
    """How masks of one image are matched across sources: the file name without suffix."""
    return Path(str(image_id)).stem.removesuffix("_mask")


def mask_sources(inputs, keep=None):
    """Every mask in ``inputs`` as (image id, load), ``load()`` giving (label map, RCA
    dict): tables are checked row by row here, masks decoded only when loaded. ``keep``,
    a predicate on the image id, leaves the other masks out (a CheXmask table's other
    rows are not even held)."""
    from acregnet_cli.io.chexmask import is_chexmask_table, read_chexmask
    from acregnet_cli.io.images import read_label_map

    found = []
    for source in map(Path, inputs):
        if source.is_dir() and (source / "corpus.csv").is_file():
            found += _corpus_masks(source)
        elif source.is_dir():
            files = sorted(p for p in source.iterdir() if p.suffix.lower() in MASK_SUFFIXES and p.is_file()
                           and not p.is_symlink())
            if not files:
                raise InputError(f"{source}: no mask images ({', '.join(MASK_SUFFIXES)}) in this folder")
            found += [(path.name, lambda path=path: (read_label_map(path), {})) for path in files]
        elif is_chexmask_table(source):
            found += [(image_id, lambda load=load, rca=rca: (load(), rca))
                      for image_id, load, rca in read_chexmask(source, keep)]
        elif source.is_file():
            found.append((source.name, lambda path=source: (read_label_map(path), {})))
        else:
            raise InputError(f"{source}: not found (give mask images, a folder of them, a CheXmask table or a "
                             "corpus output folder)")
    if keep is not None:
        found = [(image_id, load) for image_id, load in found if keep(image_id)]
    if not found:
        raise InputError("no masks given" if keep is None else "no mask of the inputs has a reference of the same name")
    return found


def _corpus_masks(folder):
    from acregnet_cli.io.images import read_label_map
    from acregnet_cli.io.tables import read_table

    _, rows = read_table(folder / "corpus.csv", "corpus table", required=("image", "status", "mask"))
    found = []
    for row in rows:
        if row["status"] != "ok" or not row["mask"]:
            continue
        mask = (folder / row["mask"]).resolve()
        if not mask.is_relative_to(folder.resolve()):
            raise InputError(f"{folder / 'corpus.csv'}: mask {row['mask']!r} lies outside the folder")
        rca = {name: float(row[key]) for name, key in (("Dice RCA (Mean)", "rca_mean"), ("Dice RCA (Max)", "rca_max"))
               if (row.get(key) or "").strip()}
        found.append((row["image"], lambda mask=mask, rca=rca: (read_label_map(mask), rca)))
    return found


def _write(output, name, text, overwrite):
    from acregnet_cli.io.atomic import folder_lock, write_text_atomic

    target = Path(output) / name
    if target.exists() and not overwrite:
        raise InputError(f"{target}: exists already (use --overwrite to replace it)")
    with folder_lock(output):
        write_text_atomic(target, text)
    return target


def _check_output(output, names, overwrite):
    for name in names:
        if (Path(output) / name).exists() and not overwrite:
            raise InputError(f"{Path(output) / name}: exists already (use --overwrite to replace it)")


def export_masks(inputs, output, formats=("chexmask",), values=None, overwrite=False):
    """``acregnet export``: the masks of ``inputs`` as a CheXmask table (``chexmask.csv``)
    and/or a COCO JSON with compressed run-length masks (``coco.json``: one image per
    mask, one annotation per structure, categories right lung, left lung, heart)."""
    from acregnet_cli.anatomy import STRUCTURES, structures_of
    from acregnet_cli.io.chexmask import chexmask_row, chexmask_text
    from acregnet_cli.io.rle import coco_encode

    unknown = [name for name in formats if name not in FORMATS]
    if unknown or not formats:
        raise InputError(f"--format must be among {', '.join(FORMATS)}, got {', '.join(unknown) or 'none'}")
    names = {"chexmask": "chexmask.csv", "coco": "coco.json"}
    _check_output(output, [names[name] for name in formats], overwrite)
    sources = mask_sources(inputs)
    rows, images, annotations = [], [], []
    for number, (image_id, load) in enumerate(sources, 1):
        labels, rca = load()
        if "chexmask" in formats:
            rows.append(chexmask_row(image_id, labels, rca.get("Dice RCA (Mean)"), rca.get("Dice RCA (Max)"), values))
        if "coco" in formats:
            height, width = labels.shape
            images.append({"id": number, "file_name": str(image_id), "height": int(height), "width": int(width)})
            for category, part in enumerate(structures_of(labels, values), 1):
                if part is None:
                    continue
                rows_on, columns_on = np.nonzero(part.any(axis=1))[0], np.nonzero(part.any(axis=0))[0]
                annotations.append({
                    "id": len(annotations) + 1, "image_id": number, "category_id": category, "iscrowd": 1,
                    "area": int(part.sum()), "segmentation": coco_encode(part),
                    "bbox": [int(columns_on[0]), int(rows_on[0]), int(columns_on[-1] - columns_on[0] + 1),
                             int(rows_on[-1] - rows_on[0] + 1)]})
    written = []
    if "chexmask" in formats:
        written.append(_write(output, names["chexmask"], chexmask_text(rows), overwrite))
    if "coco" in formats:
        coco = {"images": images, "annotations": annotations,
                "categories": [{"id": k, "name": name, "supercategory": "chest"}
                               for k, name in enumerate(STRUCTURES, 1)]}
        written.append(_write(output, names["coco"], json.dumps(coco), overwrite))
    return {"masks": len(sources), "files": [str(path) for path in written]}


def _table(rows):
    buffer = io.StringIO()
    columns = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


MEASURE_COLUMNS = ("ctr", "heart_width", "thoracic_width", "right_lung_area", "left_lung_area", "heart_area",
                   "right_lung_height", "left_lung_height", "lung_height_ratio")


def measure_masks(inputs, output, spacing=None, values=None, figures=False, overwrite=False):
    """``acregnet measure``: ``measures.csv`` in ``output``, a row per mask: its frame, the
    unit, and :data:`MEASURE_COLUMNS` (:func:`acregnet_cli.anatomy.measure`); with
    ``figures``, ``<name>_measures.png`` showing where each width was measured."""
    from acregnet_cli.anatomy import measure

    if spacing is not None and not (np.isfinite(spacing) and spacing > 0):
        raise InputError(f"--spacing must be a positive number of mm, got {spacing}")
    _check_output(output, ["measures.csv"], overwrite)
    sources, rows, measured = mask_sources(inputs), [], []
    for image_id, load in sources:  # every mask read and measured before anything is written
        labels, _ = load()
        found = measure(labels, spacing, values)
        measured.append(found)
        rows.append({"image": image_id, "height": labels.shape[0], "width": labels.shape[1], "unit": found["unit"],
                     **{key: "" if found[key] is None else found[key] for key in MEASURE_COLUMNS}})
    if figures:
        from acregnet_cli.io.atomic import folder_lock
        from acregnet_cli.io.pictures import measures_picture

        with folder_lock(output):
            # The masks are read again (not all held), their measures are not redone.
            for (image_id, load), found in zip(sources, measured):
                measures_picture(Path(output) / f"{_key(image_id)}_measures.png", load()[0], found)
    target = _write(output, "measures.csv", _table(rows), overwrite)
    return {"masks": len(rows), "file": str(target)}


def score_masks(inputs, references, output, spacing=None, values=None, overwrite=False):
    """``acregnet score``: Dice and Hausdorff distance of each mask of ``inputs`` against
    the mask of the same image in ``references`` (matched by file name without suffix),
    per structure (right lung, left lung, both lungs, heart), into ``scores.csv``; the
    means are returned. Masks of different frames are compared at the reference's size
    (nearest neighbour)."""
    from acregnet_cli.anatomy import structures_of
    from acregnet_cli.metrics import dice, hausdorff

    _check_output(output, ["scores.csv"], overwrite)
    mine = mask_sources(inputs)
    wanted = {_key(image_id) for image_id, _ in mine}
    theirs = {_key(image_id): load for image_id, load in mask_sources(references, lambda i: _key(i) in wanted)}
    rows = []
    for image_id, load in mine:
        if _key(image_id) not in theirs:
            continue
        mine, _ = load()
        truth, _ = theirs[_key(image_id)]()
        if mine.shape != truth.shape:
            rows_at = np.minimum((np.arange(truth.shape[0]) + 0.5) * mine.shape[0] / truth.shape[0], mine.shape[0] - 1)
            columns_at = np.minimum((np.arange(truth.shape[1]) + 0.5) * mine.shape[1] / truth.shape[1],
                                    mine.shape[1] - 1)
            mine = mine[np.ix_(rows_at.astype(int), columns_at.astype(int))]
        row = {"image": image_id}
        parts = [structures_of(mine, values), structures_of(truth, values)]
        for name, a, b in _pairs(*parts):
            row[f"dice_{name}"] = "" if a is None and b is None else round(dice(_or(a, truth), _or(b, truth)), 5)
            row[f"hd_{name}"] = "" if a is None or b is None else round(hausdorff(a, b, spacing or 1.0), 3)
        rows.append(row)
    if not rows:
        raise InputError("no mask of the inputs has a reference of the same name")
    target = _write(output, "scores.csv", _table(rows), overwrite)
    means = {key: float(np.mean([row[key] for row in rows if row[key] != ""]))
             for key in rows[0] if key != "image" and any(row[key] != "" for row in rows)}
    return {"masks": len(rows), "file": str(target), "mean": means}


def _or(part, like):
    return np.zeros(like.shape, bool) if part is None else part


def _pairs(mine, theirs):
    """(name, my part, their part) per structure, with both lungs as one."""
    names = ("right_lung", "left_lung", "heart")
    pairs = [(name, a, b) for name, a, b in zip(names, mine, theirs)]

    def lungs(parts):
        present = [part for part in parts[:2] if part is not None]
        return None if not present else np.logical_or.reduce(present)

    return pairs + [("lungs", lungs(mine), lungs(theirs))]
