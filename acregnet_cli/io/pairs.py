"""Pair lists for batch registration (``register --pairs pairs.csv``).

CSV columns: ``moving`` and ``fixed`` (required), ``moving_mask``, ``fixed_mask``
(scores the warped moving mask) and ``name`` (optional). Relative paths are taken from the CSV file's folder. Every row is
checked before any work and all bad rows are reported at once.
"""

import dataclasses
import re
from pathlib import Path

from acregnet_cli.errors import InputError
from acregnet_cli.io.images import probe_image
from acregnet_cli.io.tables import read_table

REQUIRED = ("moving", "fixed")
MASKS = ("moving_mask", "fixed_mask")
KNOWN = REQUIRED + MASKS + ("name",)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


@dataclasses.dataclass(frozen=True)
class Pair:
    """One registration job: files and the output folder name."""

    moving: Path
    fixed: Path
    moving_mask: Path = None
    name: str = ""
    position: int = 0
    fixed_mask: Path = None


def default_pair_name(moving, fixed):
    """Output folder name of a pair: ``<moving stem>_to_<fixed stem>``."""
    return f"{Path(moving).stem}_to_{Path(fixed).stem}"


# Files a batch writes beside the pairs' folders: no pair may be named like them.
_RESERVED = re.compile(r"^(registrations|segmentation|summary)(\.shard-\d+-of-\d+)?\.(csv|json)$|\.lock$", re.I)


def check_output_name(name, source="name"):
    """Refuse names that could leave the output folder, hide files, or take the name of
    a file the batch writes itself (``registrations.csv``, ...)."""
    if not _SAFE_NAME.match(name) or ".." in name:
        raise InputError(f"{source}: output name {name!r} must be a plain file name (letters, digits, . _ -)")
    if _RESERVED.search(name):
        raise InputError(f"{source}: output name {name!r} is taken by a file the batch writes itself")
    return name


def read_pairs_csv(path):
    """Read and validate a pairs CSV.

    Returns
    -------
    list of Pair

    Raises
    ------
    InputError
        Listing every bad row (missing columns, missing files, bad or duplicate names).
    """
    path = Path(path)
    # Rows with extra cells are listed below with every other bad row.
    columns, rows = read_table(path, "pairs file", REQUIRED, KNOWN, extra_cells="keep")
    base = path.parent
    problems, pairs, seen = [], [], set()
    for number, raw in enumerate(rows, start=2):  # line 1 is the header
        extra = raw.pop(None, None)  # cells beyond the header's columns
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        row_problems = [f"{len(extra)} cell(s) more than the header's {len(columns)} columns"] if extra else []
        files = {}
        for column in REQUIRED + MASKS:
            value = row.get(column, "")
            if not value:
                if column in REQUIRED:
                    row_problems.append(f"empty '{column}'")
                continue
            file = Path(value) if Path(value).is_absolute() else base / value
            if not file.is_file():
                row_problems.append(f"{column} file not found: {value}")
            files[column] = file
        name = row.get("name") or (default_pair_name(row.get("moving", "m"), row.get("fixed", "f")))
        try:
            check_output_name(name)
        except InputError as exc:
            row_problems.append(str(exc))
        if name in seen:
            row_problems.append(f"duplicate output name {name!r}")
        seen.add(name)
        if row_problems:
            problems.append(f"line {number}: " + ", ".join(row_problems))
        else:
            pairs.append(Pair(files["moving"], files["fixed"], files.get("moving_mask"), name, len(pairs),
                              files.get("fixed_mask")))
    if problems:
        raise InputError(f"{path}: {len(problems)} bad row(s): " + "; ".join(problems))
    if not pairs:
        raise InputError(f"{path}: no pairs listed")
    return pairs


def check_pair_files(pairs, source):
    """Every pair's files are images (headers and PNG chunks intact) and each mask has its
    image's size: checked before any work, all bad pairs listed in one InputError."""
    problems = []
    for pair in pairs:
        issues, shapes = [], {}
        for label, path in (("moving", pair.moving), ("fixed", pair.fixed), ("moving_mask", pair.moving_mask),
                            ("fixed_mask", pair.fixed_mask)):
            if path is None:
                continue
            try:
                shapes[label] = probe_image(path)
            except InputError as exc:
                issues.append(str(exc))
        if "moving_mask" in shapes and "moving" in shapes and shapes["moving_mask"] != shapes["moving"]:
            issues.append(f"{pair.moving_mask}: mask is {shapes['moving_mask'][1]}x{shapes['moving_mask'][0]}, "
                          f"its image {shapes['moving'][1]}x{shapes['moving'][0]}")
        if "fixed_mask" in shapes and "fixed" in shapes and shapes["fixed_mask"] != shapes["fixed"]:
            issues.append(f"{pair.fixed_mask}: mask is {shapes['fixed_mask'][1]}x{shapes['fixed_mask'][0]}, "
                          f"its image {shapes['fixed'][1]}x{shapes['fixed'][0]}")
        if pair.fixed_mask is not None and pair.moving_mask is None:
            issues.append("a fixed mask scores the warped moving mask: give the moving mask too")
        if issues:
            problems.append(f"{pair.name}: " + ", ".join(issues))
    if problems:
        raise InputError(f"{source}: {len(problems)} bad pair(s), nothing registered: " + "; ".join(problems))
