"""Rendering an evaluation: Markdown and LaTeX tables, box plots, the figure of pairs.
"""

import math

import numpy as np

from acregnet_cli.evaluation.statistics import p_value_matrix
from acregnet_cli.io.plotting import save_figure
from acregnet_cli.metrics import METRICS

METRIC_TITLES = {"dsc": "DSC", "hd": "HD", "assd": "ASSD"}


def _cell(mean, std, digits=3):
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.{digits}f} ({std:.{digits}f})"


def _headers(unit):
    return ["Method", "DSC", f"HD ({unit})", f"ASSD ({unit})"]


def _folded_cell(row):
    """Mean folded share in percent, and how many of the measured pairs fold at all."""
    if not row.folded_measured:
        return "n/a"
    return f"{100 * row.folded_mean:.3f} ({row.folded_pairs}/{row.folded_measured})"


def summary_markdown(summary, unit, title=None, tests=None, methods=None):
    """Table 1-like Markdown: mean (std) per method; p-value matrices when ``tests`` is given."""
    lines = [f"## {title}", ""] if title else []
    headers = _headers(unit) + ["Folded % (pairs)", "Pairs"]
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("| " + " | ".join(["---"] + ["---:"] * (len(headers) - 1)) + " |")
    for row in summary.itertuples():
        cells = [str(row.method)] + [_cell(getattr(row, f"{m}_mean"), getattr(row, f"{m}_std")) for m in METRICS]
        lines.append("| " + " | ".join(cells + [_folded_cell(row), str(row.pairs)]) + " |")
    if title:
        lines += ["", "Folded: mean share of field pixels whose Jacobian determinant is at most 0, "
                      "in percent, and how many pairs fold at all (n/a: the method's field is not measured)."]
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

    Mask outlines are drawn per class, in the colours of every figure the tool draws; on
    each warped image the fixed mask's outline is dashed for reference, and the legend
    says so.
    """
    from matplotlib.figure import Figure

    from acregnet_cli.io.pictures import label_colour, label_legend

    columns = 2 + len(panels[0]["methods"])
    figure = Figure(figsize=(2.3 * columns, 2.5 * len(panels) + 0.4))
    grid = figure.subplots(len(panels), columns, squeeze=False)

    def show(axes, image, mask, reference=None, title=None):
        axes.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        for k in range(1, len(class_names) + 1):
            colour = label_colour(k - 1)
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
    label_legend(figure, range(1, len(class_names) + 1), dict(enumerate(class_names, 1)),
                 styles=(("solid", "the image's mask (warped)"), ("dashed", "the fixed image's manual mask")))
    _save_figure(figure, path)


