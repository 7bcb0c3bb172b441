"""Splitting batch work across workers and merging their tables.

A worker given ``--shard I/N`` (0 <= I < N) takes the items whose position in
the list is I modulo N, writes its per-item outputs as usual and its table as
``<name>.shard-I-of-N.csv``; ``acregnet merge DIR`` joins the shard tables into
``<name>.csv`` in the original order once every shard is there.
"""

import csv
import io
import re
from pathlib import Path

from acregnet_cli.errors import InputError
from acregnet_cli.io.atomic import write_text_atomic

_SHARD = re.compile(r"^(\d+)/(\d+)$")
_SHARD_FILE = re.compile(r"^(?P<name>.+)\.shard-(?P<index>\d+)-of-(?P<count>\d+)\.csv$")


def parse_shard(text):
    """``'I/N'`` -> (I, N); None -> (0, 1)."""
    if text is None:
        return 0, 1
    match = _SHARD.match(text.strip())
    if not match or not int(match.group(1)) < int(match.group(2)):
        raise InputError(f"--shard {text!r}: expected I/N with 0 <= I < N, e.g. 0/4")
    return int(match.group(1)), int(match.group(2))


def select(items, shard):
    """The items of this shard, with their positions in the full list."""
    index, count = shard
    return [(position, item) for position, item in enumerate(items) if position % count == index]


def table_name(name, shard):
    """File name of a table written by one shard (or the whole table for 0/1)."""
    index, count = shard
    return f"{name}.csv" if count == 1 else f"{name}.shard-{index}-of-{count}.csv"


def write_table(path, rows):
    """Write dict rows (with a ``position`` column) as CSV, atomically."""
    buffer = io.StringIO()
    fields = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(path, buffer.getvalue())


def merge_tables(folder):
    """Join every complete set of shard tables in ``folder``; return the merged file paths.

    Raises
    ------
    InputError
        If a set is incomplete (names the missing shards) or none is found.
    """
    folder = Path(folder)
    groups = {}
    for path in folder.glob("*.shard-*-of-*.csv"):
        match = _SHARD_FILE.match(path.name)
        if match:
            groups.setdefault((match["name"], int(match["count"])), {})[int(match["index"])] = path
    if not groups:
        raise InputError(f"{folder}: no shard tables (*.shard-I-of-N.csv) to merge")
    merged = []
    for (name, count), parts in sorted(groups.items()):
        missing = sorted(set(range(count)) - set(parts))
        if missing:
            raise InputError(f"{folder}: {name} has {len(parts)} of {count} shards; missing shard(s) "
                             + ", ".join(str(m) for m in missing))
        rows = []
        for index in range(count):
            with open(parts[index], newline="") as handle:
                rows.extend(csv.DictReader(handle))
        rows.sort(key=lambda row: int(row["position"]))
        write_table(folder / f"{name}.csv", rows)
        merged.append(folder / f"{name}.csv")
    return merged
