"""The files of ``acregnet corpus``: which images a corpus holds, what each one's mask is
called, and the journal of finished images (:mod:`acregnet_cli.workflows.corpus`)."""

import json
import os
from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".dicom"}
JOURNALS = ".journal"


def list_corpus(root, output=None):
    """Image files under ``root`` (recursive, sorted, hidden names skipped, ``output`` left
    out when it lies inside, only regular files: no FIFO, device or link loop), as paths
    relative to ``root`` with '/' separators."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: not a folder (give the corpus folder)")
    skip = Path(output).resolve() if output is not None else None
    found = []
    for folder, folders, files in os.walk(root):
        if skip is not None and Path(folder).resolve() == skip:
            folders[:] = []
            continue
        folders[:] = sorted(name for name in folders if not name.startswith("."))
        base = Path(folder).relative_to(root)
        found += [(base / name).as_posix() for name in files
                  if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES
                  and _regular(os.path.join(folder, name))]
    return sorted(found)


def _regular(path):
    """A regular file (through links): a FIFO, a device or a link loop is no image, and
    opening a FIFO would wait forever."""
    import stat

    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def mask_names(relpaths):
    """``masks/<path without its suffix>.png`` for each image, unique whatever the names:
    the suffix is kept where two images differ only by it (``x.png`` and ``x.dcm``); a name
    still taken (``a.png.png`` beside ``a.png`` and ``a.jpg``), or that is a folder of
    other masks (``x.jpg`` beside a folder ``x.png/``), gets ``~2``, ``~3``...; a file name
    too long for the file system is shortened and given a digest. The same list gives
    the same names, so a rerun or a shard finds each image's mask.

    Examples
    --------
    >>> sorted(mask_names(["a.png", "a.jpg", "a.png.png", "b.dcm"]).values())
    ['masks/a.jpg.png', 'masks/a.png.png', 'masks/a.png~2.png', 'masks/b.png']
    """
    import hashlib

    stems = {}
    for relpath in relpaths:
        stems.setdefault(str(Path(relpath).with_suffix("")), []).append(relpath)
    wanted = {}
    for stem, group in stems.items():
        for relpath in group:
            wanted[relpath] = relpath if len(group) > 1 else stem
    folders = {parent.as_posix() for base in wanted.values() for parent in Path(base).parents}
    names, taken = {}, set()
    for relpath in sorted(wanted):
        parts = list(Path(wanted[relpath]).parts)
        if len(parts[-1].encode()) > 240:
            digest = hashlib.sha1(parts[-1].encode()).hexdigest()[:12]
            parts[-1] = parts[-1].encode()[:200].decode(errors="ignore") + "~" + digest
        base, candidate, count = "/".join(parts), "/".join(parts), 1
        while candidate + ".png" in taken or candidate + ".png" in folders:
            count += 1
            candidate = f"{base}~{count}"
        taken.add(candidate + ".png")
        names[relpath] = f"masks/{candidate}.png"
    return names


def journal_name(shard):
    return "all.jsonl" if shard[1] == 1 else f"shard-{shard[0]}-of-{shard[1]}.jsonl"


def read_journals(folder, masks=None):
    """Every finished image's row, from every journal in ``folder`` (a torn last line,
    left by a killed run, is ignored).

    With ``masks`` (image -> its mask's name, :func:`mask_names`), a row is kept only if
    it is sound: a row of an image of this corpus, whose mask, if any, is that image's
    own name. Anything else (an edited journal: ``../../etc/passwd`` for a mask) is
    dropped, and its image done again."""
    rows = {}
    folder = Path(folder)
    if not folder.is_dir():
        return rows
    for path in sorted(folder.glob("*.jsonl")):
        if not path.is_file() or path.is_symlink():
            continue
        for line in path.read_text(encoding="utf-8", errors="replace").split("\n"):
            try:
                row = json.loads(line)
                image = row["image"]
            except (ValueError, KeyError, TypeError):
                continue
            if masks is not None and not _sound_row(row, masks):
                continue
            if "view" not in row:  # a row of a run older than the column
                row["view"] = _view_of(row)
            rows[image] = row
    return rows


def _view_of(row):
    """The view column of a row written before it: what its status and reason say."""
    if row.get("status") == "ok":
        return "frontal"
    if row.get("status") == "not-chest":
        return "not-radiograph" if "grey levels" in str(row.get("reason")) else "other"
    return ""


def _sound_row(row, masks):
    from acregnet_cli.applications.corpus import VIEWS

    image = row.get("image")
    if not isinstance(image, str) or image not in masks:
        return False
    if row.get("status") not in ("ok", "failed", "not-chest"):
        return False
    if row.get("view", "") not in ("", *VIEWS):
        return False
    for key in ("estimated_dice", "band_fraction", "seconds", "global_reach", "height", "width", "rca_mean",
                "rca_max", "atlas_agreement", "ctr", "heart_width", "thoracic_width", "right_lung_area", "left_lung_area", "heart_area",
                "lung_height_ratio"):
        value = row.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not np.isfinite(value) or value < 0):
            return False
    mask = row.get("mask") or ""
    return mask == masks[image] if row.get("status") == "ok" else mask == ""


class Journal:
    """Append-only lines, flushed one by one; a torn tail is cut before the first append."""

    def __init__(self, path, fresh=False):
        from acregnet_cli.io.atomic import refuse_links

        self.path = Path(path)
        # The journal itself included: a link planted for it would write outside the output.
        refuse_links(self.path / "x")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh and self.path.is_file():
            self.path.write_bytes(b"")  # --overwrite: what earlier runs finished is done again
        if self.path.exists():
            data = self.path.read_bytes()
            if data and not data.endswith(b"\n"):
                with open(self.path, "r+b") as handle:
                    handle.truncate(data.rfind(b"\n") + 1)
        self.handle = open(self.path, "a", encoding="utf-8")  # noqa: SIM115  (open for the whole run)

    def append(self, row):
        self.handle.write(json.dumps(row) + "\n")
        self.handle.flush()

    def close(self):
        self.handle.close()
