"""Statistics of an evaluation: the per-pair table, averages, Wilcoxon tests with Bonferroni.
"""

import math

import numpy as np

from acregnet_cli.metrics import METRICS


def pair_table(rows_by_method, split, moving, fixed, class_names):
    """Long table of per-class and class-average metrics (a pandas DataFrame).

    Parameters
    ----------
    rows_by_method : dict
        Method name to ``{pair index: row}`` with per-class lists ``dsc``, ``hd``, ``assd``.

    Returns
    -------
    DataFrame with columns pair, moving, fixed, method, class, dsc, hd, assd, folded
    (the pair's folded share, the same on each of its rows; NaN where not measured).
    """
    import pandas as pd

    records = []
    for method, rows in rows_by_method.items():
        for index in sorted(rows):
            row = rows[index]
            base = {"pair": index, "moving": split.names[moving[index]], "fixed": split.names[fixed[index]],
                    "method": method}
            folded = row.get("folded")
            extra = {"folded": float("nan") if folded is None else float(folded)}
            for k, name in enumerate(class_names):
                records.append(dict(base, **{"class": name}, **{m: row[m][k] for m in METRICS}, **extra))
            records.append(dict(base, **{"class": "average"},
                                **{m: float(np.mean(row[m])) for m in METRICS}, **extra))
    columns = ["pair", "moving", "fixed", "method", "class"] + list(METRICS) + ["folded"]
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
    ``<metric>_undefined`` for each metric, then ``folded_mean`` (mean share of
    pixels folded; NaN when no pair was measured) and ``folded_pairs`` (pairs that
    fold at all, of ``folded_measured``).
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
        # Tables written before the folded column (read back by the study scripts) have none.
        rows = table[(table["class"] == "average") & (table["method"] == method)]
        folded = rows["folded"].to_numpy(dtype=float) if "folded" in table.columns else np.array([])
        folded = folded[np.isfinite(folded)]
        record["folded_mean"] = float(np.mean(folded)) if folded.size else float("nan")
        record["folded_pairs"] = int(np.count_nonzero(folded > 0))
        record["folded_measured"] = int(folded.size)
        records.append(record)
    columns = ["method", "pairs"] + [f"{m}_{s}" for m in METRICS for s in ("mean", "std", "undefined")] + \
        ["folded_mean", "folded_pairs", "folded_measured"]
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


