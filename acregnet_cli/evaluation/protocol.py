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
    Long table: pair, moving, fixed, method, class, dsc, hd, assd, folded; per
    class and a ``class = average`` row per pair and method. ``folded`` is the
    pair's share of field pixels whose Jacobian determinant is at most 0 (empty for
    elastix, whose field stays inside it, and for pairs cached before it was kept).
``summary.csv``, ``summary.md``, ``summary.tex``
    Mean (standard deviation) per method and metric, as Table 1, and the mean
    folded share with the number of pairs that fold at all.
``wilcoxon.csv``, ``wilcoxon_<metric>.csv``
    Paired Wilcoxon signed-rank tests (raw and Bonferroni-corrected p-values) and,
    per metric, the matrix of corrected p-values.
``boxplot_<metric>.png``, ``figure_pairs.png``
    Box plots of the class averages and a figure like the paper's Figure 3.
``summary.json``
    All of the above in numbers plus timing: wall time and seconds per pair per
    method.
"""

import time
from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError, RunFailure
from acregnet_cli.evaluation.cache import (
    _append_cache,
    _check_complete,
    _check_state,
    _read_caches,
    _read_npz,
    _state,
    _write_npz,
)
from acregnet_cli.evaluation.methods import (
    EVALUATION_SIZE,
    _ElastixRunner,
    _IdentityRunner,
    _ModelRunner,
    method_fingerprint,
)
from acregnet_cli.evaluation.report import (
    box_plot,
    pairs_figure,
    summary_latex,
    summary_markdown,
)
from acregnet_cli.evaluation.statistics import (
    averages,
    p_value_matrix,
    pair_table,
    summarize,
    wilcoxon_tests,
)
from acregnet_cli.io.atomic import json_safe, write_json_atomic, write_text_atomic
from acregnet_cli.metrics import METRICS, label_map_metrics
from acregnet_cli.runtime import Progress

# Directories and files this module creates; --overwrite removes only these.


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
            # Every pair counts (elastix takes about half a minute each on 2 cores).
            counter = Progress(progress, len(todo), method.name, "pairs registered", "pair", failures=False)
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            with open(cache_path, "a") as handle:
                for i, image, mask, seconds, folded in runner.run(split, moving, fixed, needed):
                    if i in todo_set:
                        per_class, _ = label_map_metrics(mask, split.labels[fixed[i]], config.num_classes, spacing)
                        cached[i] = _append_cache(handle, i, split.names[moving[i]], split.names[fixed[i]],
                                                  per_class, seconds, folded)
                        computed_seconds.append(seconds)
                        todo_set.discard(i)
                        counter.update()
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
        result = json_safe({"dataset": config.name, "seed": int(seed), "pairs": count,
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
    result = json_safe(result)
    write_json_atomic(outdir / "summary.json", result)
    say(f"evaluate: done in {result['wall_seconds']:.1f} s; results in {outdir}")
    return result
