"""Atomic writes: data goes to a temporary file in the target folder, renamed over the
target, so a killed process leaves either the old file or the new one, never a torn one;
a write that fails names the file (and a full disk as such)."""

import contextlib
import json
import os
import tempfile
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
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + "".join(path.suffixes), dir=path.parent)
    os.close(handle)
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


def shard_lock_name(shard):
    """The lock of shard (I, N) of a run: shards share an output folder by design."""
    return LOCK_NAME if shard[1] == 1 else f".acregnet.shard-{shard[0]}-of-{shard[1]}.lock"


@contextlib.contextmanager
def folder_lock(folder, shard=(0, 1)):
    """Hold ``folder`` for one writer: a second process that asks gets an InputError at
    once, instead of mixing its files with the first one's. Shards of one run (``shard``
    = (I, N), N > 1) share the folder; each shard is held on its own.

    The lock is an advisory ``flock`` on ``folder/.acregnet.lock``, released by the
    system when the holder ends, however it ends (kill -9 included), so no stale lock
    outlives a crash. Once held, the temporary files that killed writers left behind
    (``.NAME.*.tmp*``, see :func:`atomic_path`) are removed: no one else can be writing
    them (not by a shard: other shards may be).
    """
    import fcntl

    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / shard_lock_name(shard)
    handle = open(lock, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise InputError(f"{folder}: in use by another acregnet run ({holder}); wait for it to end, "
                             "or write elsewhere") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        if shard[1] == 1:
            remove_stale_temporaries(folder)
        yield folder
    finally:
        handle.close()
        if created and [p.name for p in folder.iterdir()] == [lock.name]:
            # Nothing was written: leave no trace of the attempt.
            lock.unlink()
            folder.rmdir()


def remove_stale_temporaries(folder):
    """Delete the temporary files of :func:`atomic_path` under ``folder``; return how many."""
    removed = 0
    for root, _, names in os.walk(folder):
        for name in names:
            if name.startswith(".") and ".tmp" in name and not name.endswith(".lock"):
                os.unlink(os.path.join(root, name))
                removed += 1
    return removed
