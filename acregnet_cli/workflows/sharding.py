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


def _table_text(rows):
    buffer = io.StringIO()
    fields = list(dict.fromkeys(key for row in rows for key in row))
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_table(path, rows):
    """Write dict rows (with a ``position`` column) as CSV, atomically."""
    write_text_atomic(path, _table_text(rows))


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
            index, count = int(match["index"]), int(match["count"])
            if not (count >= 2 and index < count):
                # No sharded run writes these: a stray file must not take part in a merge.
                raise InputError(f"{path}: not a shard table of a run (shard I of N needs 0 <= I < N, N >= 2); "
                                 "remove it, then merge")
            groups.setdefault((match["name"], count), {})[index] = path
    if not groups:
        raise InputError(f"{folder}: no shard tables (*.shard-I-of-N.csv) to merge")
    splits = {}
    for name, count in groups:
        splits.setdefault(name, []).append(count)
    for name, counts in splits.items():
        if len(counts) > 1:
            raise InputError(f"{folder}: {name} is split both {' and '.join(f'{c}-way' for c in sorted(counts))}; "
                             "remove the shard tables of the stale split, then merge")
    merged = []
    for (name, count), parts in sorted(groups.items()):
        if len(parts) < count:
            # Listed lazily: N comes from a file name and may be anything.
            missing = [index for index in range(min(count, len(parts) + 10)) if index not in parts][:10]
            raise InputError(f"{folder}: {name} has {len(parts)} of {count} shards; missing shard(s) "
                             + ", ".join(str(m) for m in missing) + (", ..." if count - len(parts) > 10 else ""))
        rows = [row for index in range(count) for row in _shard_rows(parts[index])]
        positions = [row["position"] for row in rows]
        if len(set(positions)) != len(positions):
            raise InputError(f"{folder}: {name}'s shard tables list some positions twice (shards of different runs?)")
        rows.sort(key=lambda row: row["position"])
        target = folder / f"{name}.csv"
        newest = max(path.stat().st_mtime for path in parts.values())
        if target.exists() and target.stat().st_mtime > newest and not _same_table(target, rows):
            raise InputError(f"{target}: newer than its shard tables and different (written by a later run without "
                             "shards?); remove the stale shard tables to keep it, or remove it to merge them")
        write_table(target, rows)
        merged.append(target)
    return merged


def _same_table(path, rows):
    """Whether the table at ``path`` holds ``rows`` (a merge done before), as CSV reads it."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            existing = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error):
        return False
    return existing == [{key: "" if value is None else str(value) for key, value in row.items()} for row in rows]


def _shard_rows(path):
    """The rows of one shard table, ``position`` as an integer; an InputError naming the
    file for anything else (a torn, foreign or hand-edited table)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        for row in rows:
            if None in row:
                raise ValueError("a row has more cells than the header")
            row["position"] = int(row["position"])
    except KeyError:
        raise InputError(f"{path}: not a shard table (no 'position' column)") from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:  # before ValueError: a UnicodeDecodeError is one
        raise InputError(f"{path}: unreadable shard table ({' '.join(str(exc).split())})") from None
    except (TypeError, ValueError) as exc:
        raise InputError(f"{path}: malformed shard table ({exc})") from None
    return rows
