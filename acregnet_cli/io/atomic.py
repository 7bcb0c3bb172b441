"""Atomic writes: data goes to a temporary file in the target folder, renamed over the
target, so a killed process leaves either the old file or the new one, never a torn one;
a write that fails names the file (and a full disk as such)."""

import contextlib
import json
import os
import re
import secrets
import threading
from pathlib import Path

import numpy as np
from PIL import Image

from acregnet_cli.errors import InputError, RunFailure


@contextlib.contextmanager
def atomic_path(path, overwrite=True):
    """Yield a temporary path next to ``path``; rename it onto ``path`` on success.

    Parameters
    ----------
    path : str or Path
        Final location.
    overwrite : bool
        If False and ``path`` exists, raise :class:`InputError` before any work.
    """
    path = Path(path)
    if not overwrite and path.exists():
        raise InputError(f"{path}: exists already (use --overwrite to replace it)")
    refuse_links(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}{TEMPORARY_MARK}{''.join(path.suffixes)}"
        # Journaled before it exists: a run killed at any moment leaves no temporary the
        # next run of the folder does not know by name.
        _journal_temporary(tmp)
        try:
            os.close(os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            break
        except FileExistsError:
            continue
    # mkstemp creates 0600 files; results are ordinary files, so honour the umask.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        # Writers (Pillow, h5py, gzip) often name neither the file nor a full disk.
        raise RunFailure(f"{path}: could not be written ({_write_failure(exc, path.parent)})") from exc
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write_failure(exc, folder):
    import errno
    import shutil

    try:
        full = shutil.disk_usage(folder).free < 1 << 20
    except OSError:
        full = False
    if exc.errno in (errno.ENOSPC, errno.EDQUOT) or full:
        return "no space left on device"
    return exc.strerror or " ".join(str(exc).split()) or exc.__class__.__name__


def write_text_atomic(path, text, overwrite=True):
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path, overwrite) as tmp:
        Path(tmp).write_text(text)


def write_json_atomic(path, data, overwrite=True):
    """Write ``data`` as indented JSON to ``path`` atomically.

    NaN and infinities, which JSON does not have (Python would write the bare tokens
    ``NaN``, ``Infinity``), are written as ``null``.
    """
    write_text_atomic(path, json.dumps(json_safe(data), indent=2, sort_keys=True, allow_nan=False) + "\n",
                      overwrite)


def json_safe(value):
    """``value`` with every non-finite float replaced by None, NumPy scalars by Python
    ones and keys by strings, recursively.

    Examples
    --------
    >>> json_safe({"dice": float("nan"), "hd": [1.5, float("inf")]})
    {'dice': None, 'hd': [1.5, None]}
    """
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def write_npy_atomic(path, array, overwrite=True):
    """Save a NumPy array (``.npy``) atomically."""
    with atomic_path(path, overwrite) as tmp:
        with open(tmp, "wb") as handle:
            np.save(handle, np.asarray(array), allow_pickle=False)


def write_png_atomic(path, array, overwrite=True, compress_level=6):
    """Write a 2-D uint8 or uint16 array as a grayscale PNG atomically (``compress_level``
    3 encodes a 2048x2048 image twice as fast as Pillow's 6, in files a fifth larger)."""
    array = np.asarray(array)
    if array.dtype not in (np.uint8, np.uint16):
        raise TypeError(f"PNG output needs uint8 or uint16, got {array.dtype}")
    with atomic_path(path, overwrite) as tmp:
        Image.fromarray(array).save(tmp, format="PNG", compress_level=compress_level)


LOCK_NAME = ".acregnet.lock"
# How this tool names its temporaries: ``.NAME.<8 hex>.acregnet-tmp<suffixes>``.
TEMPORARY_MARK = ".acregnet-tmp"
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{8}" + re.escape(TEMPORARY_MARK) + r"(\.[^/]*)?$")
# Folders this process holds (resolved folder, its journal of temporaries), innermost last.
_HELD = []
_JOURNAL_LOCK = threading.Lock()


def refuse_links(path):
    """An output inside a held folder is never written through a link planted there (a
    folder link would take it outside the output folder)."""
    path = Path(os.path.abspath(path))
    for folder, _ in reversed(_HELD):
        if folder in path.parents:
            current = folder
            for part in path.parent.relative_to(folder).parts:
                current = current / part
                if current.is_symlink():
                    raise InputError(f"{current}: a link inside the output folder {folder}; outputs are not "
                                     "written through links (remove it, or write elsewhere)")
            return


def _journal_temporary(tmp):
    """Note ``tmp`` in the journal of the held folder that contains it (none: not noted)."""
    tmp = Path(os.path.abspath(tmp))
    for folder, journal in reversed(_HELD):
        if folder == tmp.parent or folder in tmp.parents:
            with _JOURNAL_LOCK, open(journal, "a") as handle:
                handle.write(tmp.relative_to(folder).as_posix() + "\n")
            return


def shard_lock_name(shard):
    """The lock of shard (I, N) of a run: shards share an output folder by design."""
    return LOCK_NAME if shard[1] == 1 else f".acregnet.shard-{shard[0]}-of-{shard[1]}.lock"


def _take(lock, exclusive, folder):
    """An open handle on ``lock`` holding an flock (exclusive or shared), or an InputError."""
    import fcntl

    while True:
        handle = open(lock, "a+")  # noqa: SIM115  (held for the whole run)
        try:
            fcntl.flock(handle, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "the shards of a sharded run"
            handle.close()
            raise InputError(f"{folder}: in use by another acregnet run ({holder}); wait for it to end, "
                             "or write elsewhere") from None
        # The holder before us removes the lock file as it ends: ours must still be it.
        try:
            if os.stat(lock).st_ino == os.fstat(handle.fileno()).st_ino:
                return handle
        except FileNotFoundError:
            pass
        handle.close()


def _give_back(handle, lock):
    """Release ``lock``, removing its file when no one else holds it."""
    import fcntl

    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
    except BlockingIOError:
        pass  # other shards still hold it: theirs to remove
    handle.close()


@contextlib.contextmanager
def folder_lock(folder, shard=(0, 1)):
    """Hold ``folder`` for one writer: a second process that asks gets an InputError at
    once, instead of mixing its files with the first one's. Shards of one run (``shard``
    = (I, N), N > 1) share the folder, each held on its own; a run without shards and the
    shards of one never hold it together (they would do the same images twice).

    The locks are advisory ``flock`` s: ``folder/.acregnet.lock`` (exclusive for a run
    without shards, shared by shards) and each shard's own, released by the system when
    the holder ends, however it ends (kill -9 included), so no stale lock outlives a
    crash; a run that ends removes the files no one else holds. While held, every
    temporary :func:`atomic_path` makes under ``folder`` is noted by name in the folder's
    journal of temporaries (a shard's own), and the next holder removes those a killed
    run left (:func:`remove_stale_temporaries`): only files this tool named and noted,
    never a user's file of a similar name.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    sharded = shard[1] > 1
    locks = [folder / LOCK_NAME] + ([folder / shard_lock_name(shard)] if sharded else [])
    journal = folder / (shard_lock_name(shard)[:-len(".lock")] + ".temporaries")
    handles = []
    try:
        handles.append(_take(locks[0], not sharded, folder))
        if sharded:
            handles.append(_take(locks[1], True, folder))
    except InputError:
        for handle, lock in zip(handles, locks):
            _give_back(handle, lock)
        if created and not any(folder.iterdir()):
            folder.rmdir()
        raise
    resolved = Path(os.path.abspath(folder))
    try:
        handles[-1].seek(0)
        handles[-1].truncate()
        handles[-1].write(f"pid {os.getpid()}" + (f", shard {shard[0]} of {shard[1]}" if sharded else ""))
        handles[-1].flush()
        remove_stale_temporaries(folder, journal)
        _HELD.append((resolved, journal))
        yield folder
    finally:
        if (resolved, journal) in _HELD:
            _HELD.remove((resolved, journal))
        # Every temporary of a run that ends is renamed or removed by its writer.
        with contextlib.suppress(FileNotFoundError):
            journal.unlink()
        for handle, lock in reversed(list(zip(handles, locks))):
            _give_back(handle, lock)
        if created and not any(folder.iterdir()):
            # Nothing was written: leave no trace of the attempt.
            folder.rmdir()


def remove_stale_temporaries(folder, journal=None):
    """Delete the temporaries a killed run of this folder left: those its journal names,
    still named as :func:`atomic_path` names them, regular files inside ``folder``, not
    links. Nothing else is touched, whatever its name. Return how many were removed."""
    journal = Path(journal) if journal is not None else Path(folder) / (LOCK_NAME[:-len(".lock")] + ".temporaries")
    try:
        if not journal.is_file() or journal.is_symlink():
            return 0
        # A torn or foreign journal is read as far as it makes sense; its size is bounded by
        # what a run writes (one short line per output file), checked before reading.
        if journal.stat().st_size > 256 * 1024 * 1024:
            return 0
        lines = journal.read_text(errors="replace").splitlines()
    except OSError:
        return 0
    root = Path(os.path.abspath(folder))
    removed = 0
    for line in lines:
        candidate = root / line
        try:
            inside = Path(os.path.abspath(candidate)).relative_to(root) == Path(line) and ".." not in Path(line).parts
        except ValueError:
            inside = False
        if not inside or not _TEMPORARY.match(candidate.name):
            continue
        # No link is followed: the parent folders and the file itself are checked as they are.
        if any(parent.is_symlink() for parent in [candidate, *candidate.parents] if root in parent.parents):
            continue
        if candidate.is_file():
            candidate.unlink()
            removed += 1
    journal.write_text("")
    return removed
