"""Pictures of a registration: the Jacobian map and the panel ``register --figures`` writes.

The Jacobian map is coloured in NumPy (no matplotlib: it is written per pair and must
cost little); the panel uses matplotlib on the Agg canvas, with images shown at most
``_PANEL_SIDE`` pixels wide so that a 2048x2048 pair draws as fast as a 256x256 one.
"""

import threading

import numpy as np

from acregnet_cli.fields import folded_regions, jacobian_determinant

# log2 of the determinant is shown from -_LOG_RANGE (4x compression) to +_LOG_RANGE.
_LOG_RANGE = 2.0
_FOLD_FILL = (0, 0, 0)
_FOLD_OUTLINE = (255, 230, 0)
_PANEL_SIDE = 384
# register writes outputs from two threads; matplotlib's font and text caches are not
# documented as thread-safe, so panels are drawn one at a time.
_DRAWING = threading.Lock()
# Mask outline colours by label order (matplotlib's tab10 without its grey).
_LABEL_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                  (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207))


def _outline(mask):
    """Pixels of ``mask`` with a 4-neighbour outside it."""
    mask = np.asarray(mask, bool)
    padded = np.pad(mask, 1, mode="edge")
    inner = padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    return mask & ~inner


def jacobian_rgb(determinant):
    """An (H, W, 3) uint8 picture of a Jacobian determinant map.

    Blue where the field compresses (determinant below 1), white where it keeps area,
    red where it expands, on a log scale saturating at 4x; folded pixels (determinant
    at most 0) black, each folded region outlined in yellow so that specks show.

    Examples
    --------
    >>> determinant = np.ones((4, 4)); determinant[1, 1] = -0.5
    >>> picture = jacobian_rgb(determinant)
    >>> picture[0, 3].tolist(), picture[1, 1].tolist()
    ([255, 255, 255], [0, 0, 0])
    """
    determinant = np.asarray(determinant, np.float64)
    level = np.clip(np.log2(np.maximum(determinant, 1e-6)) / _LOG_RANGE, -1.0, 1.0)
    picture = np.empty(determinant.shape + (3,), np.float64)
    expand, compress = np.clip(level, 0, 1), np.clip(-level, 0, 1)
    picture[..., 0] = 1.0 - compress * 0.85
    picture[..., 1] = 1.0 - (expand + compress) * 0.85
    picture[..., 2] = 1.0 - expand * 0.85
    picture = np.rint(picture * 255).astype(np.uint8)
    folded = determinant <= 0
    picture[folded] = _FOLD_FILL
    if folded.any():
        # The outline is drawn just outside each fold, so one folded pixel still shows.
        grown = folded | np.pad(folded, 1)[:-2, 1:-1] | np.pad(folded, 1)[2:, 1:-1] | \
            np.pad(folded, 1)[1:-1, :-2] | np.pad(folded, 1)[1:-1, 2:]
        picture[grown & ~folded] = _FOLD_OUTLINE
    return picture


def label_outlines(image, label_map):
    """An (H, W, 3) uint8 grey image with each non-zero label's outline in its colour."""
    grey = np.rint(np.clip(np.asarray(image, np.float64), 0, 1) * 255).astype(np.uint8)
    picture = np.repeat(grey[..., None], 3, axis=-1)
    for k, value in enumerate(v for v in np.unique(label_map) if v != 0):
        picture[_outline(label_map == value)] = _LABEL_COLOURS[k % len(_LABEL_COLOURS)]
    return picture


def checkerboard(first, second, tiles=8):
    """``first`` and ``second`` (same shape) in alternating square tiles, ``tiles`` per side."""
    height, width = first.shape
    rows = (np.arange(height) * tiles // height)[:, None]
    columns = (np.arange(width) * tiles // width)[None, :]
    return np.where((rows + columns) % 2 == 0, first, second)


def _shrink(array, side=_PANEL_SIDE):
    """Every k-th pixel so that the longer side is at most ``side`` (display only)."""
    step = max(1, int(np.ceil(max(array.shape[:2]) / side)))
    return array[::step, ::step], step


def registration_panel(path, moving, fixed, warped, field, moving_mask=None, warped_mask=None, title=None):
    """Write the figure of one registration (in the spirit of the paper's Figure 3) to ``path``.

    Top row: moving, fixed and warped images, masks outlined (the moving mask on the
    moving image, the warped mask on the fixed and warped images), and a checkerboard
    of warped and fixed. Bottom row: the difference to the fixed image before (moving
    brought to the fixed frame) and after, the deformation as a grid (where the fixed
    image's grid lines sample the moving image), and the Jacobian map.
    """
    with _DRAWING:
        _panel(path, moving, fixed, warped, field, moving_mask, warped_mask, title)


def _panel(path, moving, fixed, warped, field, moving_mask, warped_mask, title):
    from acregnet_cli.io.plotting import new_figure, save_figure

    figure = new_figure(16, 8.6)
    axes = figure.subplots(2, 4)
    figure.subplots_adjust(left=0.01, right=0.99, top=0.9, bottom=0.07, wspace=0.04, hspace=0.16)
    before = moving if moving.shape == fixed.shape else _resample(moving, fixed.shape)
    panels = [
        ("moving" + (" + mask" if moving_mask is not None else ""),
         label_outlines(moving, moving_mask) if moving_mask is not None else moving),
        ("fixed" + (" + warped mask" if warped_mask is not None else ""),
         label_outlines(fixed, warped_mask) if warped_mask is not None else fixed),
        ("warped" + (" + warped mask" if warped_mask is not None else ""),
         label_outlines(warped, warped_mask) if warped_mask is not None else warped),
        ("checkerboard: warped / fixed", checkerboard(warped, fixed)),
    ]
    for axis, (name, picture) in zip(axes[0], panels):
        small, _ = _shrink(picture)
        axis.imshow(small, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        axis.set_title(name, fontsize=11)
    difference_before, difference_after = np.abs(before - fixed), np.abs(warped - fixed)
    top = max(float(np.percentile(difference_before, 99.5)), 1e-6)
    for axis, name, difference in ((axes[1][0], "|moving - fixed| before", difference_before),
                                   (axes[1][1], "|warped - fixed| after", difference_after)):
        axis.imshow(_shrink(difference)[0], cmap="magma", vmin=0, vmax=top, interpolation="nearest")
        axis.set_title(f"{name}: mean {difference.mean():.3f}", fontsize=11)
    _draw_grid(axes[1][2], field)
    determinant = jacobian_determinant(field)
    _, sizes = folded_regions(determinant)
    axes[1][3].imshow(_shrink(jacobian_rgb(determinant))[0], interpolation="nearest")
    axes[1][3].set_title(f"Jacobian: min {determinant.min():.2f}, folded {100 * np.mean(determinant <= 0):.2f}%"
                         f" in {len(sizes)} region(s)", fontsize=11)
    for axis in np.ravel(axes):
        axis.set_xticks([])
        axis.set_yticks([])
    legend = ["Jacobian: blue compresses, white keeps area, red expands (to 4x); black folds, outlined in yellow"]
    if warped_mask is not None or moving_mask is not None:
        values = [v for v in np.unique(warped_mask if warped_mask is not None else moving_mask) if v != 0]
        legend.insert(0, "mask outlines: " + ", ".join(f"label {v}: {_colour_name(k)}" for k, v in enumerate(values)))
    figure.text(0.5, 0.015, ";   ".join(legend), ha="center", fontsize=10)
    if title:
        figure.suptitle(title, fontsize=13)
    save_figure(figure, path)


def _colour_name(k):
    return ("blue", "orange", "green", "red", "purple", "brown", "pink", "olive", "cyan")[k % len(_LABEL_COLOURS)]


def _resample(image, shape):
    from scipy import ndimage

    return ndimage.zoom(image, (shape[0] / image.shape[0], shape[1] / image.shape[1]), order=1)[:shape[0], :shape[1]]


def _draw_grid(axis, field, lines=24):
    """Fixed-image grid lines drawn where they sample the moving image (``p + u(p)``)."""
    height, width = field.shape[:2]
    step = max(1, max(height, width) // lines)
    dense = max(1, step // 4)
    rows, columns = np.arange(0, height, dense), np.arange(0, width, dense)
    for row in range(0, height, step):
        axis.plot(columns + field[row, columns, 1], row + field[row, columns, 0], color="#1f77b4", linewidth=0.7)
    for column in range(0, width, step):
        axis.plot(column + field[rows, column, 1], rows + field[rows, column, 0], color="#1f77b4", linewidth=0.7)
    axis.set_xlim(-0.5, width - 0.5)
    axis.set_ylim(height - 0.5, -0.5)
    axis.set_aspect("equal")
    axis.set_title("deformation: fixed grid at p + u(p)", fontsize=11)
