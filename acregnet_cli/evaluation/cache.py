"""The evaluation's cache: its state file, per-method JSONL results and warped-mask NPZ files.

A rerun reuses what a folder holds when the state (dataset, split, seed, format) and
the methods' fingerprints match; torn last lines of a killed run are dropped.
"""

import json
import math
import re
import shutil

import numpy as np

from acregnet_cli.errors import InputError
from acregnet_cli.evaluation.methods import EVALUATION_SIZE
from acregnet_cli.io.atomic import atomic_path, write_json_atomic, write_text_atomic
from acregnet_cli.metrics import METRICS

STATE_FILE = "evaluation.json"
# 2: model fingerprints always hold every registration option and the integration steps
# (1 left the defaults out); a folder of format 1 is refused with a one-line error.
FORMAT_VERSION = 2
_OWNED = ("cache", "elastix", "warped", STATE_FILE)


def _state(config, split, seed, spacing):
    return {
        "format_version": FORMAT_VERSION,
        "dataset": config.name,
        "size": EVALUATION_SIZE,
        "seed": int(seed),
        "spacing": spacing,
        "distance_unit": config.distance_unit,
        "test_images": list(split.names),
        "methods": {},
    }


def _check_state(outdir, state, methods, fingerprints, overwrite):
    """Bind ``outdir`` to this evaluation; refuse to mix results of another one."""
    path = outdir / STATE_FILE
    if overwrite:
        for name in _OWNED:
            target = outdir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    if path.exists():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: unreadable ({exc}); use --overwrite to start afresh") from None
        for key, label in (("format_version", "format"), ("dataset", "dataset"), ("size", "image size"),
                           ("seed", "seed"), ("test_images", "test images"), ("spacing", "spacing")):
            if old.get(key) != state[key]:
                shown_old = old.get(key) if key != "test_images" else f"{len(old.get(key) or [])} images"
                shown_new = state[key] if key != "test_images" else f"{len(state[key])} images"
                if key == "test_images" and len(old.get(key) or []) == len(state[key]):
                    shown_old, shown_new = "another list", "this one"
                raise InputError(
                    f"{outdir}: holds results of another evaluation ({label}: {shown_old}, now {shown_new}); "
                    "use another output folder, or --overwrite to discard the cached results")
        state["methods"] = dict(old.get("methods") or {})
    for method in methods:
        recorded = state["methods"].get(method.name)
        entry = {"kind": method.kind, "path": str(method.path) if method.path else None,
                 "fingerprint": fingerprints[method.name]}
        if method.kind == "model":
            entry.update(method.options.summary())
        if recorded is not None and recorded.get("fingerprint") != entry["fingerprint"]:
            raise InputError(
                f"{outdir}: method '{method.name}' was evaluated with another "
                f"{'model' if method.kind == 'model' else 'configuration'} ({recorded.get('path') or recorded.get('kind')}); "
                "give this one another NAME, use another output folder, or --overwrite")
        state["methods"][method.name] = entry
    write_json_atomic(path, state)


def _to_json_value(value):
    value = float(value)
    return None if math.isnan(value) else value


def _from_json_value(value):
    return float("nan") if value is None else float(value)


def _read_cache(path, split, moving, fixed):
    """Rows of a method's cache file, by pair index; a torn last line is dropped."""
    rows = {}
    if not path.exists():
        return rows
    text = path.read_text()
    lines = text.split("\n")
    complete, tail = lines[:-1], lines[-1]
    good = []
    for number, line in enumerate(complete, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            index = int(row["pair"])
        except (ValueError, KeyError, TypeError):
            raise InputError(f"{path}: line {number} is corrupt; use --overwrite to start afresh") from None
        if index >= len(moving) or row.get("moving") != split.names[moving[index]] \
                or row.get("fixed") != split.names[fixed[index]]:
            raise InputError(f"{path}: pair {index} does not match this evaluation's pairs; use --overwrite")
        for metric in METRICS:
            row[metric] = [_from_json_value(v) for v in row[metric]]
        rows[index] = row
        good.append(line)
    if tail.strip():
        # A run killed mid-write: drop the partial line so that appending stays valid.
        write_text_atomic(path, "".join(line + "\n" for line in good))
    return rows


def _read_caches(folder, name, split, moving, fixed):
    """Rows of a method's own cache file and of every shard's, by pair index."""
    rows = _read_cache(folder / f"{name}.jsonl", split, moving, fixed)
    pattern = re.compile(rf"^{re.escape(name)}\.shard-\d+-of-\d+\.jsonl$")
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            if pattern.match(path.name):
                rows.update(_read_cache(path, split, moving, fixed))
    return rows


def _check_complete(outdir, methods, split, moving, fixed, count, shown):
    """Raise :class:`InputError` naming what the cache files lack (merge step)."""
    missing = []
    for method in methods:
        cached = _read_caches(outdir / "cache", method.name, split, moving, fixed)
        lacking = [i for i in range(count) if i not in cached]
        figures = [i for i in range(shown) if _read_npz(outdir / "warped" / method.name / f"pair{i}.npz") is None]
        if lacking:
            listed = ", ".join(map(str, lacking[:5])) + (", ..." if len(lacking) > 5 else "")
            missing.append(f"{method.name}: {len(lacking)} pairs missing ({listed})")
        if figures:
            missing.append(f"{method.name}: figure pairs {', '.join(map(str, figures))} missing")
    if missing:
        raise InputError(f"{outdir}: cannot merge, shards unfinished: " + "; ".join(missing))


def _append_cache(handle, index, moving_name, fixed_name, per_class, seconds, folded=None):
    row = {"pair": int(index), "moving": moving_name, "fixed": fixed_name, "seconds": float(seconds),
           "folded": None if folded is None else float(folded)}
    for metric in METRICS:
        row[metric] = [_to_json_value(v) for v in per_class[metric]]
    handle.write(json.dumps(row) + "\n")
    handle.flush()
    for metric in METRICS:
        row[metric] = [float(v) for v in per_class[metric]]
    return row


def _write_npz(path, image, mask):
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, image=np.asarray(image, np.float32), mask=np.asarray(mask, np.int32))


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as data:
            return data["image"], data["mask"]
    except (OSError, ValueError, KeyError, EOFError):
        return None


