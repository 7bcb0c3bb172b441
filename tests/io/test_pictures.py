"""Figures: one palette and legend for labels everywhere, colour bars where colour carries
a value, grids inside their panel, whole-number counts (issue 36, item 8)."""

import numpy as np
import pytest
from PIL import Image

from acregnet_cli.io.pictures import label_colour


def _rgb(hex_colour):
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)])


def _has_colour(picture, hex_colour, tolerance=12):
    return bool((np.abs(picture[..., :3].astype(int) - _rgb(hex_colour)).max(axis=-1) <= tolerance).any())


@pytest.fixture(scope="module")
def labelled():
    """A grey image with three structures labelled 1, 2, 3."""
    image = np.full((96, 96), 0.5, np.float32)
    labels = np.zeros((96, 96), np.uint8)
    labels[10:40, 10:40], labels[10:40, 55:85], labels[55:85, 30:65] = 1, 2, 3
    return image, labels


def test_segment_overlay_uses_the_palette_with_a_legend(labelled, tmp_path):
    """segment drew red/lime/cyan with no legend; register and corpus blue/orange/green."""
    from acregnet_cli.applications.segmentation import save_overlay

    save_overlay(tmp_path / "o.png", *labelled, "t")
    picture = np.asarray(Image.open(tmp_path / "o.png"))
    assert all(_has_colour(picture, label_colour(k)) for k in range(3))
    assert not _has_colour(picture, "#00ff00") and not _has_colour(picture, "#ff0000")  # lime, red: gone


def test_evaluate_pairs_figure_uses_the_palette(labelled, tmp_path):
    from acregnet_cli.evaluation.report import pairs_figure

    image, labels = labelled
    panel = {"title": "a to b", "moving": (image, labels), "fixed": (image, labels),
             "methods": [("net", image, labels)]}
    pairs_figure([panel], ["left lung", "right lung", "heart"], tmp_path / "p.png")
    picture = np.asarray(Image.open(tmp_path / "p.png"))
    assert all(_has_colour(picture, label_colour(k)) for k in range(3))
    assert not _has_colour(picture, "#e6194b")  # its former red


def test_a_label_the_warp_lost_does_not_shift_the_other_colours(labelled):
    from acregnet_cli.io.pictures import label_outlines

    image, labels = labelled
    without_first = np.where(labels == 1, 0, labels)
    picture = label_outlines(image, without_first, values=[0, 1, 2, 3])
    assert _has_colour(picture, label_colour(1), 0) and not _has_colour(picture, label_colour(0), 0)


def test_registration_panel_has_colour_bars_and_keeps_the_grid_in_its_panel(labelled, tmp_path):
    from acregnet_cli.io.pictures import registration_panel

    image, labels = labelled
    field = np.zeros((96, 96, 2), np.float32)
    field[..., 0] = -30.0  # every grid line drawn 30 px above its place: over the title, before
    registration_panel(tmp_path / "f.png", image, image, image, field, labels, labels, title="t")
    picture = np.asarray(Image.open(tmp_path / "f.png").convert("RGB"))
    side, gap, bar, head = 384, 16, 26, 40
    x, y = gap + 2 * (side + gap), head + bar + side + gap  # the grid panel's title bar
    title_bar = picture[y:y + bar, x:x + side]
    assert not _has_colour(title_bar, label_colour(0), 30)
    # Colour bars under the difference and Jacobian panels: a row of many colours.
    below = picture[head + 2 * (bar + side) + gap + 6: head + 2 * (bar + side) + gap + 14]
    jacobian_key = below[:, 3 * (side + gap) + gap: 4 * (side + gap)]
    assert _has_colour(jacobian_key, "#2626ff", 40) and _has_colour(jacobian_key, "#ff2626", 40)
    assert len(np.unique(below[:, gap:gap + side].reshape(-1, 3), axis=0)) > 50


def test_jacobian_png_carries_its_key():
    from acregnet_cli.io.pictures import jacobian_picture, jacobian_rgb

    determinant = np.ones((64, 200))
    determinant[5:9, 5:9] = -1.0
    picture = jacobian_picture(determinant)
    assert np.array_equal(picture[:64], jacobian_rgb(determinant))
    assert len(np.unique(picture[64:].reshape(-1, 3), axis=0)) > 50


def test_count_axes_tick_at_whole_numbers():
    """qc_histogram.png had fractional count ticks (0.5, 1.5) for a few masks."""
    from acregnet_cli.workflows.qc import histogram_figure

    figure = histogram_figure([0.91, 0.95, 0.97], 0.92)
    figure.canvas.draw()
    ticks = figure.axes[0].get_yticks()
    assert len(ticks) >= 2 and np.allclose(ticks, np.round(ticks))
