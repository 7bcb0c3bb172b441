"""Figures without pyplot's global state: make a Figure, draw, save it atomically as PNG."""

from acregnet_cli.io.atomic import atomic_path


def new_figure(width, height):
    """A matplotlib Figure of ``width`` x ``height`` inches, on the Agg canvas (no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure, path, tight=False):
    """Write ``figure`` to ``path`` as PNG through a temporary file."""
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=100, bbox_inches="tight" if tight else None)
