"""The one reader of the CSV tables users give (``register --pairs``, ``warp --points``).

Checked before anything is parsed: a regular file (``/dev/zero`` or a FIFO would be read
forever), of a size a table of this kind can have; then read as spreadsheets save CSV
(a byte-order mark before the header is accepted), with the header's names stripped.
Every refusal is an :class:`InputError` naming the file, and the line where there is one.
"""

import csv
import os
import stat
from pathlib import Path

from acregnet_cli.errors import InputError

# Far above any real pairs or points table (a million rows of two paths), far below memory.
MAX_TABLE_BYTES = 512 * 1024 * 1024


def _regular_file(path, what):
    """``os.stat`` of ``path`` if it is a regular file (``/dev/zero`` or a FIFO would be
    read forever), else an InputError naming it."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        raise InputError(f"{path}: {what} not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read {what} ({exc.strerror})") from None
    if not stat.S_ISREG(status.st_mode):
        raise InputError(f"{path}: {what} is not a regular file")
    return status


def read_table(path, what, required=(), known=None, extra_cells="refuse"):
    """Rows of a CSV table as dicts, and its (stripped) column names.

    Parameters
    ----------
    path : str or Path
    what : str
        How messages name the table ('pairs file', 'points file').
    required : sequence of str
        Columns that must be there.
    known : sequence of str, optional
        The only columns allowed (a misspelt column would otherwise be dropped silently).
    extra_cells : {'refuse', 'keep'}
        A row with more cells than the header: refused naming its line, or kept under
        the key None for the caller to report.

    Returns
    -------
    columns : list of str
    rows : list of dict

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "p.csv").write_text("\\ufeffx,y\\n1,2\\n")
    >>> read_table(folder / "p.csv", "points file", required=("x", "y"))
    (['x', 'y'], [{'x': '1', 'y': '2'}])
    """
    path = Path(path)
    status = _regular_file(path, what)
    if status.st_size > MAX_TABLE_BYTES:
        raise InputError(f"{path}: {what} of {status.st_size} bytes; at most {MAX_TABLE_BYTES} are read")
    try:
        # utf-8-sig: spreadsheets save "CSV UTF-8" with a byte-order mark before the header.
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() if c is not None else "" for c in (reader.fieldnames or [])]
            reader.fieldnames = columns
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{path}: cannot read {what} as CSV ({exc})") from None
    missing = [c for c in required if c not in columns]
    if missing:
        raise InputError(f"{path}: missing column(s) {', '.join(missing)}; found {', '.join(columns) or 'none'}")
    if known is not None:
        unknown = [c for c in columns if c not in known]
        if unknown:
            raise InputError(f"{path}: unknown column(s) {', '.join(unknown)}; the columns are {', '.join(known)}")
    if extra_cells == "refuse":
        for number, row in enumerate(rows, start=2):  # line 1 is the header
            if None in row:
                raise InputError(f"{path}: line {number} has {len(columns) + len(row[None])} cells, the header "
                                 f"{len(columns)}")
    return columns, rows


def iter_table(path, what):
    """A large CSV table read row by row: its column names, and an iterator of (line
    number, row dict). Checked as :func:`read_table` checks (a regular file, read as
    spreadsheets save CSV) but of any size: a CheXmask table runs to gigabytes, and only
    the rows a caller keeps are held.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> _ = (folder / "t.csv").write_text("a,b\\n1,2\\n3,4\\n")
    >>> columns, rows = iter_table(folder / "t.csv", "table")
    >>> columns, [line for line, _ in rows]
    (['a', 'b'], [2, 3])
    """
    path = Path(path)
    _regular_file(path, what)
    handle = open(path, newline="", encoding="utf-8-sig")
    try:
        reader = csv.DictReader(handle)
        columns = [c.strip() if c is not None else "" for c in (reader.fieldnames or [])]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        handle.close()
        raise InputError(f"{path}: cannot read {what} as CSV ({exc})") from None
    reader.fieldnames = columns

    def rows():
        with handle:
            try:
                for number, row in enumerate(reader, start=2):
                    if None in row:
                        raise InputError(f"{path}: line {number} has {len(columns) + len(row[None])} cells, the "
                                         f"header {len(columns)}")
                    yield number, row
            except (OSError, UnicodeDecodeError, csv.Error) as exc:
                raise InputError(f"{path}: cannot read {what} as CSV ({exc})") from None

    return columns, rows()

