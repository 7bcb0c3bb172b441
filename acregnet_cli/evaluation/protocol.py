"""The paper's evaluation protocol (Table 1): random test pairs, three metrics, statistics.

Protocol
--------
For a test fold of N images (the split list's order), 2N (moving, fixed) pairs are
drawn with :func:`draw_pairs`. Each method warps the moving image's mask onto the
fixed image; the warped mask is compared with the fixed image's mask by Dice,
Hausdorff distance and average symmetric surface distance for every foreground
class (:mod:`acregnet_cli.metrics`), in physical units (``config.spacing(size)``:
1.4 mm per pixel for JSRT at 256, original pixels for Shenzhen), and the three
values are averaged over the classes, as the paper did. The table reports the mean
(standard deviation) of those class averages over the pairs, and paired Wilcoxon
signed-rank tests compare every two methods on each metric.

Methods
-------
``identity``
    No registration: the moving mask as it is (the baseline "before").
``elastix``
    Affine then B-spline elastix registration (:mod:`acregnet_cli.evaluation.elastix`).
``NAME=RUN``
    A trained VectorCNN (``train-reg`` run directory, weights file or bundled model
    name), loaded once and run in batches by
    :class:`acregnet_cli.registration.registrar.Registrar`; the mask is warped as one-hot
    channels with the same bilinear warp and arg-max.

Output folder
-------------
``evaluation.json``
    What the folder holds: dataset, test images, image size, spacing, seed and the
    methods with a fingerprint of their model or parameters. A rerun with another
    dataset, seed or test list, or another model under the same method name, is
    refused (``overwrite`` discards the cached results instead).
``cache/<method>.jsonl``
    One line per finished pair (per-class metrics and seconds), appended as pairs
    finish: a rerun computes only the missing pairs. A torn last line left by a
    killed run is dropped.
``cache/<method>.shard-I-of-N.jsonl``, ``shard-I-of-N.json``
    The same, written by a worker run with ``shard=(I, N)``: it registers only the
    pairs whose index is I modulo N (and the figure pairs among them), and writes
    no tables. Workers on several machines may share the folder. A run without a
    shard reads every cache file, registers what is still missing (nothing, once
    all shards finished; ``merge_only`` makes that a requirement) and writes the
    tables: that run is the merge step.
``elastix/<fingerprint>/<moving>__<fixed>.npz``
    Warped image and mask of each elastix registration.
``warped/<method>/pair<i>.npz``
    Warped image and mask of the pairs shown in the figure.
``pairs.csv``
    Long table: pair, moving, fixed, method, class, dsc, hd, assd; per class and
    a ``class = average`` row per pair and method.
``summary.csv``, ``summary.md``, ``summary.tex``
    Mean (standard deviation) per method and metric, as Table 1.
``wilcoxon.csv``, ``wilcoxon_<metric>.csv``
    Paired Wilcoxon signed-rank tests (raw and Bonferroni-corrected p-values) and,
    per metric, the matrix of corrected p-values.
``boxplot_<metric>.png``, ``figure_pairs.png``
    Box plots of the class averages and a figure like the paper's Figure 3.
``summary.json``
    All of the above in numbers plus timing: wall time and seconds per pair per
    method.
"""

import dataclasses
import hashlib
import json
import math
import re
import shutil
import time
from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError, RunFailure
from acregnet_cli.io.images import atomic_path, write_json_atomic, write_text_atomic
from acregnet_cli.io.plotting import save_figure
from acregnet_cli.metrics import METRICS, label_map_metrics
from acregnet_cli.options import MASK_OUTSIDE, PREALIGN_KINDS

STATE_FILE = "evaluation.json"
FORMAT_VERSION = 1
EVALUATION_SIZE = 256
RESERVED = ("identity", "elastix")
METRIC_TITLES = {"dsc": "DSC", "hd": "HD", "assd": "ASSD"}
# Directories and files this module creates; --overwrite removes only these.
_OWNED = ("cache", "elastix", "warped", STATE_FILE)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
_OPTION_SUFFIX = re.compile(r",\s*(passes|outside|prealign)\s*=\s*([^,]*?)\s*$")


# --------------------------------------------------------------------------- pairs


def draw_pairs(n, seed=0):
    """The paper's random test pairs: 2n (moving, fixed) indices into a fold of n images.

    Draws exactly as the original evaluation did::

        rs = numpy.random.RandomState(seed)
        moving = rs.choice(n, 2 * n)   # first
        fixed = rs.choice(n, 2 * n)    # then

    i.e. with replacement, so a pair may repeat and an image may be registered to
    itself. Indices refer to the test split list in its file order.

    Parameters
    ----------
    n : int
        Number of images in the fold.
    seed : int

    Returns
    -------
    moving, fixed : ndarray of int, shape (2n,)
    """
    if n < 1:
        raise InputError("the test fold is empty")
    rs = np.random.RandomState(seed)
    moving = rs.choice(n, 2 * n)
    fixed = rs.choice(n, 2 * n)
    return moving, fixed


# --------------------------------------------------------------------------- methods


@dataclasses.dataclass(frozen=True)
class Method:
    """A registration method to evaluate.

    Attributes
    ----------
    name : str
        Label in tables and file names.
    kind : {'identity', 'elastix', 'model'}
    path : Path or None
        Run directory or weights file of a 'model'.
    passes : int
        Network passes of a 'model' (1: the paper's method; see
        :meth:`acregnet_cli.registration.registrar.Registrar.predict_small`).
    outside : {'edge', 'background'}
        A 'model''s warped mask where the field samples outside the moving image
        ('edge': the paper's protocol; see :class:`acregnet_cli.registration.registrar.Registrar`).
    prealign : {None, 'affine', 'similarity'}
        A global transform fitted before a 'model''s network (an extension; see
        :class:`acregnet_cli.registration.registrar.Registrar`).
    """

    name: str
    kind: str
    path: Path = None
    passes: int = 1
    outside: str = "edge"
    prealign: str = None


def _resolve_run(run):
    """A run directory or weights file; a bundled model name when no such path exists."""
    from acregnet_cli.resources import data_dir

    path = Path(run).expanduser()
    if not path.exists():
        try:
            bundled = data_dir() / "models" / str(run)
        except FileNotFoundError:
            bundled = None
        if bundled is not None and bundled.is_dir():
            return bundled
        raise InputError(f"{run}: run directory or model file not found")
    return path


def parse_method(spec):
    """Parse one ``--method`` value: ``identity``, ``elastix`` or
    ``NAME=RUN[,passes=P][,outside=edge|background][,prealign=affine|similarity]``
    (options in any order).

    The run of ``NAME=RUN`` must exist and hold a registration network
    (``model.json`` naming ``vector_cnn``); nothing is loaded yet.

    Raises
    ------
    InputError
        For any other form, a bad name or a missing or unsuitable run.
    """
    from acregnet_cli.models.files import read_model_json

    spec = str(spec).strip()
    if spec in RESERVED:
        if spec == "elastix":
            from acregnet_cli.evaluation.elastix import check_available

            check_available()
        return Method(spec, spec)
    if "=" not in spec:
        raise InputError(f"--method {spec!r}: expected identity, elastix or NAME=RUN (e.g. ac-regnet=runs/jsrt-ac)")
    name, run = (part.strip() for part in spec.split("=", 1))
    if not _NAME.match(name):
        raise InputError(f"--method {spec!r}: NAME must be 1-64 letters, digits or _.+- (starting with a letter or digit)")
    if name in RESERVED:
        raise InputError(f"--method {spec!r}: '{name}' is reserved for the built-in method of that name")
    options = {}
    while suffix := _OPTION_SUFFIX.search(run):
        key, value = suffix.groups()
        if key in options:
            raise InputError(f"--method {spec!r}: {key} is given twice")
        options[key] = value
        run = run[:suffix.start()].strip()
    passes = options.get("passes", "1")
    if not passes.isdigit() or int(passes) < 1:
        raise InputError(f"--method {spec!r}: passes must be a whole number of at least 1")
    outside = options.get("outside", "edge")
    if outside not in MASK_OUTSIDE:
        raise InputError(f"--method {spec!r}: outside must be one of {', '.join(MASK_OUTSIDE)}")
    prealign = options.get("prealign")
    if prealign is not None and prealign not in PREALIGN_KINDS:
        raise InputError(f"--method {spec!r}: prealign must be one of {', '.join(PREALIGN_KINDS)}")
    if not run:
        raise InputError(f"--method {spec!r}: RUN is empty")
    path = _resolve_run(run)
    _, description = read_model_json(path)
    if description["architecture"] != "vector_cnn":
        raise InputError(f"--method {spec!r}: {path} holds a {description['architecture']} model, "
                         "not a registration network")
    return Method(name, "model", path, int(passes), outside, prealign)


def parse_methods(specs):
    """Parse all ``--method`` values; names must be unique and at least one given."""
    methods = [parse_method(spec) for spec in specs]
    if not methods:
        raise InputError("give at least one --method (identity, elastix or NAME=RUN)")
    seen = set()
    for method in methods:
        if method.name in seen:
            raise InputError(f"method name '{method.name}' is given twice")
        seen.add(method.name)
    return methods


def _weights_digest(path):
    """Digest of the arrays in an HDF5 weights file, by name: the same weights give the
    same digest whatever the file's metadata (HDF5 files written twice differ in bytes)."""
    import h5py

    digest = hashlib.sha256()
    try:
        with h5py.File(path, "r") as handle:
            def visit(name, item):
                if isinstance(item, h5py.Dataset):
                    values = np.asarray(item[()])
                    digest.update(f"{name}:{values.dtype.str}:{values.shape}".encode())
                    digest.update(np.ascontiguousarray(values).tobytes())

            handle.visititems(visit)
    except OSError as error:
        raise InputError(f"{path}: unreadable weights file ({error})") from None
    return digest.hexdigest()


def method_fingerprint(method, elastix_overrides=None):
    """What makes a method's results reusable: elastix parameters; a model's weights,
    what the network computes with them (architecture, size, resize) and its passes.
    Labels in ``model.json`` that do not change results (dataset, autoencoder run) are
    left out, so a run and its bundled copy share results."""
    if method.kind == "identity":
        return "identity"
    if method.kind == "elastix":
        from acregnet_cli.evaluation.elastix import fingerprint

        return "elastix-" + fingerprint(elastix_overrides)
    from acregnet_cli.models.files import read_model_json

    run_dir, description = read_model_json(method.path)
    weights = method.path if method.path.is_file() else run_dir / description.get("weights", "vector_cnn.weights.h5")
    if not weights.is_file():
        raise InputError(f"{weights}: weights file not found")
    digest = hashlib.sha256(_weights_digest(weights).encode())
    computes = {key: description.get(key) for key in ("architecture", "size", "resize")}
    if description.get("integration_steps"):
        # Only when set, so that the keys of displacement networks' results stay as they were.
        computes["integration_steps"] = description["integration_steps"]
    digest.update(json.dumps(computes, sort_keys=True).encode())
    digest.update(f"passes={method.passes}".encode())
    if method.outside != "edge":
        # Only when set, so that the keys of results with the paper's warp stay as they were.
        digest.update(f"outside={method.outside}".encode())
    if method.prealign is not None:
        digest.update(f"prealign={method.prealign}".encode())
    return "model-" + digest.hexdigest()[:16]


# --------------------------------------------------------------------------- runners


class _IdentityRunner:
    """The moving image and mask unchanged."""

    startup_seconds = 0.0

    def run(self, split, moving, fixed, indices):
        for i in indices:
            yield i, split.images[moving[i]], split.labels[moving[i]], 0.0


class _ModelRunner:
    """A VectorCNN loaded once, pairs registered in batches."""

    def __init__(self, method, batch_size):
        from acregnet_cli.models.files import load_vector_cnn
        from acregnet_cli.registration.registrar import Registrar

        began = time.perf_counter()
        model, description = load_vector_cnn(method.path)
        self.registrar = Registrar(model, description.get("size", 64), resize=description.get("resize", "modern"),
                                   batch_size=batch_size, keep_onehot=False, passes=method.passes,
                                   mask_outside=method.outside, prealign=method.prealign)
        self.batch_size = batch_size
        self.warmed = False
        self.startup_seconds = time.perf_counter() - began

    def run(self, split, moving, fixed, indices):
        indices = list(indices)
        if indices and not self.warmed:
            # Tracing the network is start-up, not per-pair time.
            began = time.perf_counter()
            i = indices[0]
            self.registrar.register(split.images[moving[i]], split.images[fixed[i]])
            self.startup_seconds += time.perf_counter() - began
            self.warmed = True
        for start in range(0, len(indices), self.batch_size):
            chunk = indices[start:start + self.batch_size]
            began = time.perf_counter()
            results = self.registrar.register_many(
                [(split.images[moving[i]], split.images[fixed[i]], split.labels[moving[i]]) for i in chunk])
            per_pair = (time.perf_counter() - began) / len(chunk)
            for i, result in zip(chunk, results):
                yield i, result.warped, result.warped_mask, per_pair


class _ElastixRunner:
    """Elastix in worker processes; pairs drawn twice are registered once."""

    startup_seconds = 0.0

    def __init__(self, cache_dir, num_classes, jobs, overrides):
        from acregnet_cli.evaluation.elastix import ElastixRunner

        self.runner = ElastixRunner(cache_dir, num_classes, jobs=jobs, overrides=overrides)

    def run(self, split, moving, fixed, indices):
        by_key = {}
        for i in indices:
            key = f"{split.names[moving[i]]}__{split.names[fixed[i]]}"
            by_key.setdefault(key, []).append(i)
        items = [(key, split.images[moving[ids[0]]], split.images[fixed[ids[0]]], split.labels[moving[ids[0]]])
                 for key, ids in by_key.items()]
        for key, warped, mask, seconds, _cached in self.runner.run(items):
            for i in by_key[key]:
                yield i, warped, mask, seconds


# --------------------------------------------------------------------------- cache


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
        if method.passes != 1:
            entry["passes"] = method.passes
        if method.prealign is not None:
            entry["prealign"] = method.prealign
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


def _append_cache(handle, index, moving_name, fixed_name, per_class, seconds):
    row = {"pair": int(index), "moving": moving_name, "fixed": fixed_name, "seconds": float(seconds)}
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


# --------------------------------------------------------------------------- statistics


def pair_table(rows_by_method, split, moving, fixed, class_names):
    """Long table of per-class and class-average metrics (a pandas DataFrame).

    Parameters
    ----------
    rows_by_method : dict
        Method name to ``{pair index: row}`` with per-class lists ``dsc``, ``hd``, ``assd``.

    Returns
    -------
    DataFrame with columns pair, moving, fixed, method, class, dsc, hd, assd.
    """
    import pandas as pd

    records = []
    for method, rows in rows_by_method.items():
        for index in sorted(rows):
            row = rows[index]
            base = {"pair": index, "moving": split.names[moving[index]], "fixed": split.names[fixed[index]],
                    "method": method}
            for k, name in enumerate(class_names):
                records.append(dict(base, **{"class": name}, **{m: row[m][k] for m in METRICS}))
            records.append(dict(base, **{"class": "average"},
                                **{m: float(np.mean(row[m])) for m in METRICS}))
    columns = ["pair", "moving", "fixed", "method", "class"] + list(METRICS)
    return pd.DataFrame.from_records(records, columns=columns)


def averages(table):
    """Class averages as a wide table: index pair, columns (metric, method)."""
    subset = table[table["class"] == "average"]
    return subset.pivot(index="pair", columns="method", values=list(METRICS))


def summarize(table, methods):
    """Mean and standard deviation over pairs of the class averages, per method and metric.

    The standard deviation is the population one (``numpy.std``, ddof 0), as
    NumPy computes it by default. Pairs whose class average is undefined (``nan``:
    a structure lost, see :mod:`acregnet_cli.metrics`) are left out and counted.

    Returns
    -------
    DataFrame with columns method, pairs, then ``<metric>_mean``, ``<metric>_std``,
    ``<metric>_undefined`` for each metric.
    """
    import pandas as pd

    wide = averages(table)
    records = []
    for method in methods:
        record = {"method": method}
        for metric in METRICS:
            values = wide[(metric, method)].to_numpy(dtype=float)
            finite = values[np.isfinite(values)]
            record["pairs"] = len(values)
            record[f"{metric}_mean"] = float(np.mean(finite)) if finite.size else float("nan")
            record[f"{metric}_std"] = float(np.std(finite)) if finite.size else float("nan")
            record[f"{metric}_undefined"] = int(len(values) - finite.size)
        records.append(record)
    columns = ["method", "pairs"] + [f"{m}_{s}" for m in METRICS for s in ("mean", "std", "undefined")]
    return pd.DataFrame.from_records(records, columns=columns)


def wilcoxon_tests(wide, methods):
    """Paired Wilcoxon signed-rank tests between every two methods, per metric.

    Each test uses the pairs where both methods' class averages are defined and
    calls :func:`scipy.stats.wilcoxon` with its defaults (two-sided,
    ``zero_method='wilcox'``); when all differences are zero the p-value is 1.
    Bonferroni correction multiplies each p-value by the number of comparisons
    within the metric, ``m (m - 1) / 2`` for ``m`` methods, capped at 1 (each
    metric is its own family of tests, as in the paper's per-metric tables).

    Parameters
    ----------
    wide : DataFrame
        Class averages, index pair, columns (metric, method) (see :func:`averages`).
    methods : list of str

    Returns
    -------
    DataFrame with columns metric, method_a, method_b, pairs, statistic, p,
    comparisons, p_bonferroni.
    """
    import pandas as pd
    from scipy import stats

    comparisons = len(methods) * (len(methods) - 1) // 2
    records = []
    for metric in METRICS:
        for a in range(len(methods)):
            for b in range(a + 1, len(methods)):
                x = wide[(metric, methods[a])].to_numpy(dtype=float)
                y = wide[(metric, methods[b])].to_numpy(dtype=float)
                keep = np.isfinite(x) & np.isfinite(y)
                x, y = x[keep], y[keep]
                if x.size == 0:
                    statistic, p = float("nan"), float("nan")
                elif np.all(x == y):
                    statistic, p = 0.0, 1.0
                else:
                    result = stats.wilcoxon(x, y)
                    statistic, p = float(result.statistic), float(result.pvalue)
                records.append({"metric": metric, "method_a": methods[a], "method_b": methods[b],
                                "pairs": int(x.size), "statistic": statistic, "p": p,
                                "comparisons": comparisons,
                                "p_bonferroni": min(1.0, p * comparisons) if not math.isnan(p) else p})
    columns = ["metric", "method_a", "method_b", "pairs", "statistic", "p", "comparisons", "p_bonferroni"]
    return pd.DataFrame.from_records(records, columns=columns)


def p_value_matrix(tests, metric, methods):
    """Square matrix of Bonferroni-corrected p-values for one metric (diagonal empty)."""
    import pandas as pd

    matrix = pd.DataFrame(np.nan, index=list(methods), columns=list(methods))
    for row in tests[tests["metric"] == metric].itertuples():
        matrix.loc[row.method_a, row.method_b] = row.p_bonferroni
        matrix.loc[row.method_b, row.method_a] = row.p_bonferroni
    matrix.index.name = "method"
    return matrix


# --------------------------------------------------------------------------- rendering


def _cell(mean, std, digits=3):
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f} ({std:.{digits}f})"


def _headers(unit):
    return ["Method", "DSC", f"HD ({unit})", f"ASSD ({unit})"]


def summary_markdown(summary, unit, title=None, tests=None, methods=None):
    """Table 1-like Markdown: mean (std) per method; p-value matrices when ``tests`` is given."""
    lines = [f"## {title}", ""] if title else []
    headers = _headers(unit) + ["Pairs"]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("| " + " | ".join(["---"] + ["---:"] * (len(headers) - 1)) + " |")
    for row in summary.itertuples():
        cells = [str(row.method)] + [_cell(getattr(row, f"{m}_mean"), getattr(row, f"{m}_std")) for m in METRICS]
        lines.append("| " + " | ".join(cells + [str(row.pairs)]) + " |")
    if tests is not None and len(tests):
        comparisons = int(tests["comparisons"].iloc[0])
        lines += ["", f"Paired Wilcoxon signed-rank tests, Bonferroni-corrected p-values "
                      f"({comparisons} comparison{'s' if comparisons != 1 else ''} per metric):"]
        for metric in METRICS:
            matrix = p_value_matrix(tests, metric, methods)
            lines += ["", f"**{METRIC_TITLES[metric]}**", "",
                      "| | " + " | ".join(matrix.columns) + " |",
                      "| --- | " + " | ".join(["---:"] * len(matrix.columns)) + " |"]
            for name, values in matrix.iterrows():
                cells = ["" if math.isnan(v) else f"{v:.3g}" for v in values]
                lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


_LATEX_SPECIAL = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                  "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}


def latex_escape(text):
    """Escape LaTeX's special characters in plain text."""
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in str(text))


def summary_latex(summary, unit, caption=None):
    """Table 1-like LaTeX ``tabular`` (booktabs rules) of mean (std) per method."""
    lines = [r"\begin{tabular}{lccc}", r"\toprule",
             " & ".join(latex_escape(h) for h in _headers(unit)) + r" \\", r"\midrule"]
    for row in summary.itertuples():
        cells = [latex_escape(row.method)] + [_cell(getattr(row, f"{m}_mean"), getattr(row, f"{m}_std"))
                                              for m in METRICS]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}"]
    if caption:
        lines = [r"\begin{table}", r"\centering", rf"\caption{{{latex_escape(caption)}}}"] + lines + [r"\end{table}"]
    return "\n".join([r"% Needs \usepackage{booktabs}"] + lines) + "\n"


def _save_figure(figure, path):
    save_figure(figure, path, tight=True)


def box_plot(wide, metric, methods, unit, path):
    """Box plot of one metric's class averages per method, as PNG."""
    from matplotlib.figure import Figure

    data = []
    for method in methods:
        values = wide[(metric, method)].to_numpy(dtype=float)
        data.append(values[np.isfinite(values)])
    figure = Figure(figsize=(1.2 + 1.1 * len(methods), 4.0))
    axes = figure.add_subplot()
    axes.boxplot(data, showmeans=True)
    axes.set_xticks(range(1, len(methods) + 1), methods, rotation=20 if len(methods) > 3 else 0)
    axes.set_ylabel(METRIC_TITLES[metric] + ("" if metric == "dsc" else f" ({unit})"))
    axes.grid(axis="y", alpha=0.3)
    _save_figure(figure, path)


def pairs_figure(panels, class_names, path):
    """A figure like the paper's Figure 3: moving, fixed and each method's result per pair.

    Parameters
    ----------
    panels : list of dict
        One per pair: ``title``, ``moving`` (image, mask), ``fixed`` (image, mask)
        and ``methods``: list of (name, image, mask).
    class_names : sequence of str
        Names of the foreground classes, in class order from 1.
    path : Path
        PNG to write.

    Mask outlines are drawn per class; on each warped image the fixed mask's
    outline is dashed for reference.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    colours = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6", "#bfef45"]
    columns = 2 + len(panels[0]["methods"])
    figure = Figure(figsize=(2.3 * columns, 2.5 * len(panels) + 0.4))
    grid = figure.subplots(len(panels), columns, squeeze=False)

    def show(axes, image, mask, reference=None, title=None):
        axes.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for k in range(1, len(class_names) + 1):
            colour = colours[(k - 1) % len(colours)]
            if reference is not None and np.any(reference == k):
                axes.contour(reference == k, levels=[0.5], colors=[colour], linewidths=0.7, linestyles="dashed")
            if np.any(mask == k):
                axes.contour(mask == k, levels=[0.5], colors=[colour], linewidths=1.0)
        axes.set_xticks([])
        axes.set_yticks([])
        if title:
            axes.set_title(title, fontsize=9)

    for row, panel in enumerate(panels):
        show(grid[row, 0], *panel["moving"], title="moving" if row == 0 else None)
        show(grid[row, 1], *panel["fixed"], title="fixed" if row == 0 else None)
        grid[row, 0].set_ylabel(panel["title"], fontsize=8)
        for column, (name, image, mask) in enumerate(panel["methods"], start=2):
            show(grid[row, column], image, mask, reference=panel["fixed"][1], title=name if row == 0 else None)
    handles = [Line2D([], [], color=colours[k % len(colours)], label=name) for k, name in enumerate(class_names)]
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    _save_figure(figure, path)


# --------------------------------------------------------------------------- the protocol


def evaluate(config, root, methods, outdir, seed=0, jobs=1, pairs_limit=None, figure_pairs=3, batch_size=32,
             overwrite=False, progress=None, elastix_overrides=None, shard=(0, 1), merge_only=False):
    """Run the Table 1 protocol for ``methods`` on the test fold; write all outputs.

    Parameters
    ----------
    config : DatasetConfig
    root : Path
        Data root.
    methods : list of Method
        See :func:`parse_methods`.
    outdir : Path
        Output folder; results cached there are reused (see the module notes).
    seed : int
        Seed of :func:`draw_pairs`.
    jobs : int
        Elastix worker processes.
    pairs_limit : int, optional
        Evaluate only the first ``pairs_limit`` of the 2N drawn pairs (the same
        pairs a full run starts with, so a later full run reuses them).
    figure_pairs : int
        Pairs shown in ``figure_pairs.png`` (the first ones); 0 for no figure.
    batch_size : int
        Pairs per network call.
    overwrite : bool
        Discard results cached in ``outdir`` first.
    progress : callable, optional
        Called with one line of text at a time.
    elastix_overrides : dict, optional
        Elastix parameter values replacing the shipped ones (quick tests).
    shard : (int, int)
        (I, N): register only the pairs whose index is I modulo N and write no tables
        (see the module notes); (0, 1) is the whole evaluation.
    merge_only : bool
        Register nothing: fail, naming what is missing, unless the cache files hold
        every pair (the merge step after sharded runs).

    Returns
    -------
    dict : the contents of ``summary.json``, or of ``shard-I-of-N.json`` for a shard.
    """
    from acregnet_cli.datasets.layout import load_split

    began = time.perf_counter()
    say = progress or (lambda text: None)
    for value, label, low in ((jobs, "--jobs", 1), (batch_size, "--batch-size", 1), (figure_pairs, "--figure-pairs", 0)):
        if value < low:
            raise InputError(f"{label} must be at least {low}, got {value}")
    if pairs_limit is not None and pairs_limit < 1:
        raise InputError(f"--pairs-limit must be at least 1, got {pairs_limit}")
    shard_index, shard_count = shard
    if not 0 <= shard_index < shard_count:
        raise InputError(f"shard {shard_index}/{shard_count}: expected 0 <= I < N")
    if merge_only and shard_count > 1:
        raise InputError("--merge-only merges the shards: run it without --shard")
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise InputError(f"{outdir}: exists and is not a folder")
    fingerprints = {method.name: method_fingerprint(method, elastix_overrides) for method in methods}
    split = load_split(config, root, "test", EVALUATION_SIZE)
    spacing = config.spacing(EVALUATION_SIZE)
    moving, fixed = draw_pairs(len(split), seed)
    count = len(moving) if pairs_limit is None else min(len(moving), pairs_limit)
    shown = min(figure_pairs, count)
    class_names = list(config.class_names[1:])
    outdir.mkdir(parents=True, exist_ok=True)
    _check_state(outdir, _state(config, split, seed, spacing), methods, fingerprints, overwrite)
    say(f"evaluate: {config.name} test fold, {len(split)} images, {count} of {len(moving)} pairs (seed {seed}), "
        f"spacing {spacing:g} {config.distance_unit}, methods: {', '.join(m.name for m in methods)}")

    mine = lambda i: i % shard_count == shard_index  # noqa: E731
    rows_by_method, timing = {}, {}
    if merge_only:
        _check_complete(outdir, methods, split, moving, fixed, count, shown)
    for method in methods:
        method_began = time.perf_counter()
        cache_path = outdir / "cache" / (f"{method.name}.jsonl" if shard_count == 1
                                         else f"{method.name}.shard-{shard_index}-of-{shard_count}.jsonl")
        cached = _read_caches(outdir / "cache", method.name, split, moving, fixed)
        todo = [i for i in range(count) if i not in cached and mine(i)]
        warped_dir = outdir / "warped" / method.name
        figure_todo = [i for i in range(shown) if mine(i) and _read_npz(warped_dir / f"pair{i}.npz") is None]
        needed = sorted(set(todo) | set(figure_todo))
        computed_seconds = []
        startup = 0.0
        if needed:
            say(f"{method.name}: {len(cached)} pairs cached, registering {len(needed)}"
                + (f" (shard {shard_index}/{shard_count})" if shard_count > 1 else "")
                + (f" ({jobs} elastix job{'s' if jobs > 1 else ''})" if method.kind == "elastix" else ""))
            if method.kind == "identity":
                runner = _IdentityRunner()
            elif method.kind == "elastix":
                runner = _ElastixRunner(outdir / "elastix" / fingerprints[method.name].split("-", 1)[1],
                                        config.num_classes, jobs, elastix_overrides)
            else:
                runner = _ModelRunner(method, batch_size)
            todo_set = set(todo)
            done = len(cached)
            step = max(1, count // 10)
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            with open(cache_path, "a") as handle:
                for i, image, mask, seconds in runner.run(split, moving, fixed, needed):
                    if i in todo_set:
                        per_class, _ = label_map_metrics(mask, split.labels[fixed[i]], config.num_classes, spacing)
                        cached[i] = _append_cache(handle, i, split.names[moving[i]], split.names[fixed[i]],
                                                  per_class, seconds)
                        computed_seconds.append(seconds)
                        todo_set.discard(i)
                        done += 1
                        if done % step == 0 or done == count:
                            mean = float(np.mean(computed_seconds))
                            say(f"{method.name}: {done}/{count} pairs ({mean:.3g} s/pair)")
                    if i < shown:
                        _write_npz(warped_dir / f"pair{i}.npz", image, mask)
            startup = runner.startup_seconds
            if todo_set:
                raise RunFailure(f"{method.name}: {len(todo_set)} pairs were not registered")
        else:
            say(f"{method.name}: all {sum(map(mine, range(count)))} pairs of this run cached")
        if shard_count > 1:
            timing[method.name] = {"computed_pairs": len(computed_seconds),
                                   "shard_pairs": sum(map(mine, range(count))),
                                   "seconds_per_pair_this_run": float(np.mean(computed_seconds))
                                   if computed_seconds else None,
                                   "wall_seconds": time.perf_counter() - method_began}
            continue
        rows_by_method[method.name] = {i: cached[i] for i in range(count)}
        seconds = [cached[i]["seconds"] for i in range(count)]
        timing[method.name] = {
            "kind": method.kind,
            "path": str(method.path) if method.path else None,
            "passes": method.passes if method.kind == "model" else None,
            "fingerprint": fingerprints[method.name],
            "computed_pairs": len(computed_seconds),
            "cached_pairs": count - len(computed_seconds),
            "startup_seconds": startup,
            "wall_seconds": time.perf_counter() - method_began,
            "seconds_per_pair": float(np.mean(seconds)),
            "seconds_per_pair_this_run": float(np.mean(computed_seconds)) if computed_seconds else None,
        }
        if method.kind == "elastix":
            timing[method.name]["jobs"] = jobs

    if shard_count > 1:
        result = _json_safe({"dataset": config.name, "seed": int(seed), "pairs": count,
                             "shard": [shard_index, shard_count], "methods": [m.name for m in methods],
                             "timing": timing, "wall_seconds": time.perf_counter() - began})
        write_json_atomic(outdir / f"shard-{shard_index}-of-{shard_count}.json", result)
        say(f"evaluate: shard {shard_index}/{shard_count} done in {result['wall_seconds']:.1f} s; "
            f"merge with a run without --shard once all shards are done")
        return result

    names = [method.name for method in methods]
    unit = config.distance_unit
    table = pair_table(rows_by_method, split, moving, fixed, class_names)
    summary = summarize(table, names)
    wide = averages(table)
    tests = wilcoxon_tests(wide, names)
    title = f"{config.name}: {count} test pairs (seed {seed}), {EVALUATION_SIZE}x{EVALUATION_SIZE}"

    write_text_atomic(outdir / "pairs.csv", table.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(outdir / "summary.csv", summary.to_csv(index=False, float_format="%.6g"))
    write_text_atomic(outdir / "summary.md", summary_markdown(summary, unit, title, tests, names))
    write_text_atomic(outdir / "summary.tex", summary_latex(summary, unit, caption=title))
    write_text_atomic(outdir / "wilcoxon.csv", tests.to_csv(index=False, float_format="%.6g"))
    files = ["pairs.csv", "summary.csv", "summary.md", "summary.tex", "wilcoxon.csv"]
    for metric in METRICS:
        write_text_atomic(outdir / f"wilcoxon_{metric}.csv", p_value_matrix(tests, metric, names).to_csv(float_format="%.6g"))
        box_plot(wide, metric, names, unit, outdir / f"boxplot_{metric}.png")
        files += [f"wilcoxon_{metric}.csv", f"boxplot_{metric}.png"]
    if shown:
        panels = []
        for i in range(shown):
            m, f = moving[i], fixed[i]
            panel = {"title": f"pair {i}: {split.names[m]} to {split.names[f]}",
                     "moving": (split.images[m], split.labels[m]), "fixed": (split.images[f], split.labels[f]),
                     "methods": []}
            for name in names:
                stored = _read_npz(outdir / "warped" / name / f"pair{i}.npz")
                if stored is None:
                    raise RunFailure(f"{outdir}/warped/{name}/pair{i}.npz: missing or unreadable")
                panel["methods"].append((name,) + stored)
            panels.append(panel)
        pairs_figure(panels, class_names, outdir / "figure_pairs.png")
        files.append("figure_pairs.png")

    result = {
        "dataset": config.name,
        "data_root": str(root),
        "size": EVALUATION_SIZE,
        "seed": int(seed),
        "test_images": len(split),
        "pairs": count,
        "pairs_drawn": len(moving),
        "spacing": spacing,
        "distance_unit": unit,
        "class_names": class_names,
        "methods": names,
        "summary": {row["method"]: {k: v for k, v in row.items() if k != "method"}
                    for row in summary.to_dict(orient="records")},
        "wilcoxon": {"comparisons_per_metric": len(names) * (len(names) - 1) // 2,
                     "correction": "Bonferroni within each metric",
                     "tests": tests.to_dict(orient="records")},
        "timing": timing,
        "wall_seconds": time.perf_counter() - began,
        "files": files + ["summary.json"],
        "output": str(outdir),
    }
    result = _json_safe(result)
    write_json_atomic(outdir / "summary.json", result)
    say(f"evaluate: done in {result['wall_seconds']:.1f} s; results in {outdir}")
    return result


def _json_safe(value):
    """Replace NaN by None and NumPy scalars by Python ones, recursively."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
