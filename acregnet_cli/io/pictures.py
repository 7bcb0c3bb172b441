"""Pictures of a registration: the Jacobian map and the panel ``register --figures`` writes.

Both are drawn with NumPy and Pillow, not matplotlib: they are written per pair, and
importing and starting matplotlib alone cost a second. Images are shown at most
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
# register writes outputs from two threads; panels are saved one at a time.
_DRAWING = threading.Lock()
# Mask outline colours by label order (matplotlib's tab10 without its grey): one palette
# for every figure the tool draws, so that a structure has one colour everywhere.
_LABEL_COLOURS = ((31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
                  (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207))
_COLOUR_NAMES = ("blue", "orange", "green", "red", "purple", "brown", "pink", "olive", "cyan")


def label_colour(k):
    """The colour of the ``k``-th non-zero label (0-based, in increasing label value) as
    '#rrggbb', the same in every figure.

    Examples
    --------
    >>> label_colour(0), label_colour(2)
    ('#1f77b4', '#2ca02c')
    """
    return "#%02x%02x%02x" % _LABEL_COLOURS[k % len(_LABEL_COLOURS)]


def label_legend(figure, values, names=None, styles=()):
    """A legend along the bottom of a matplotlib ``figure``: each non-zero label value in
    its colour (named by ``names``, a dict of value to name, where given), then
    ``styles``, a sequence of (linestyle, meaning) explaining solid and dashed lines."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=label_colour(k), label=(names or {}).get(value, f"label {value}"))
               for k, value in enumerate(v for v in values if v != 0)]
    handles += [Line2D([], [], color="black", linestyle=style, label=meaning) for style, meaning in styles]
    figure.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)


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


_JACOBIAN_TICKS = ((0.0, "1/4"), (0.25, "1/2"), (0.5, "1"), (0.75, "2"), (1.0, "4x"))


def _jacobian_scale(width):
    """(width, 3) colours of :func:`jacobian_rgb` from 4x compression to 4x expansion."""
    return jacobian_rgb(2.0 ** np.linspace(-_LOG_RANGE, _LOG_RANGE, width))


def _draw_key(canvas, x, y, width, colours, ticks, font, note=None):
    """A colour bar ``width`` wide at (x, y): ``colours`` stretched across it, tick labels
    (fraction along it, text) below, and ``note`` (text, fill) in a box at its right end."""
    from PIL import Image, ImageDraw

    draw = ImageDraw.Draw(canvas)
    bar_width = width - (46 if note else 0)
    strip = np.asarray(colours, np.uint8)[None].repeat(8, axis=0)
    canvas.paste(Image.fromarray(strip).resize((bar_width, 8), Image.NEAREST), (x, y))
    draw.rectangle((x - 1, y - 1, x + bar_width, y + 8), outline="black")
    for fraction, text in ticks:
        tick = x + fraction * (bar_width - 1)
        draw.line((tick, y + 8, tick, y + 11), fill="black")
        draw.text((tick, y + 12), text, fill="black", font=font,
                  anchor="lt" if fraction == 0 else "rt" if fraction == 1 else "mt")
    if note:
        text, fill = note
        draw.rectangle((x + bar_width + 6, y, x + bar_width + 14, y + 8), fill=fill, outline=_FOLD_OUTLINE)
        draw.text((x + bar_width + 17, y + 4), text, fill="black", font=font, anchor="lm")


def jacobian_picture(determinant):
    """:func:`jacobian_rgb` with its key below (what ``jacobian.png`` holds): the map's
    rows are the field's, the key adds 30 rows (log scale 1/4 to 4x, folds black).

    Examples
    --------
    >>> jacobian_picture(np.ones((40, 200))).shape
    (70, 200, 3)
    """
    from PIL import Image, ImageFont

    picture = jacobian_rgb(determinant)
    height, width = picture.shape[:2]
    canvas = Image.new("RGB", (width, height + 30), "white")
    canvas.paste(Image.fromarray(picture), (0, 0))
    margin = min(12, width // 10)
    _draw_key(canvas, margin, height + 4, width - 2 * margin, _jacobian_scale(256), _JACOBIAN_TICKS,
              ImageFont.load_default(size=10), ("folded", _FOLD_FILL) if width >= 160 else None)
    return np.asarray(canvas)


def label_outlines(image, label_map, values=None):
    """An (H, W, 3) uint8 grey image with each non-zero label's outline in its colour.

    ``values`` is the label set the colours are counted in (default: the map's own), so
    that a mask missing a structure does not shift the colours of the others."""
    grey = np.rint(np.clip(np.asarray(image, np.float64), 0, 1) * 255).astype(np.uint8)
    picture = np.repeat(grey[..., None], 3, axis=-1)
    values = np.unique(label_map) if values is None else values
    for k, value in enumerate(v for v in values if v != 0):
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


# Anchors of a dark-to-light colour ramp (as matplotlib's magma) for difference images.
_RAMP = np.array([(0, 0, 4), (81, 18, 124), (183, 55, 121), (252, 137, 97), (252, 253, 191)], np.float64)


def _ramp(values, top):
    """(H, W, 3) uint8 colours of ``values`` from 0 to ``top`` on the ramp."""
    level = np.clip(np.asarray(values, np.float64) / top, 0, 1) * (len(_RAMP) - 1)
    low = np.minimum(level.astype(int), len(_RAMP) - 2)
    weight = (level - low)[..., None]
    return np.rint(_RAMP[low] * (1 - weight) + _RAMP[low + 1] * weight).astype(np.uint8)


def _grey(image):
    grey = np.rint(np.clip(np.asarray(image, np.float64), 0, 1) * 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def registration_panel(path, moving, fixed, warped, field, moving_mask=None, warped_mask=None, title=None):
    """Write the figure of one registration (in the spirit of the paper's Figure 3) to ``path``.

    Top row: moving, fixed and warped images, masks outlined (the moving mask on the
    moving image, the warped mask on the fixed and warped images), and a checkerboard
    of warped and fixed. Bottom row: the difference to the fixed image before (moving
    brought to the fixed frame) and after, the deformation as a grid (where the fixed
    image's grid lines sample the moving image), and the Jacobian map. Drawn with
    Pillow, in a few tens of milliseconds (matplotlib took a second to start).
    """
    from PIL import Image, ImageDraw, ImageFont

    from acregnet_cli.io.atomic import atomic_path

    before = moving if moving.shape == fixed.shape else _resample(moving, fixed.shape)
    small = {name: _shrink(np.asarray(image, np.float64))[0]
             for name, image in (("moving", moving), ("fixed", fixed), ("warped", warped), ("before", before))}
    masks = {name: _shrink(mask)[0] if mask is not None else None
             for name, mask in (("moving", moving_mask), ("warped", warped_mask))}
    difference_before, difference_after = np.abs(small["before"] - small["fixed"]), np.abs(small["warped"] - small["fixed"])
    top = max(float(np.percentile(difference_before, 99.5)), 1e-6)
    determinant = jacobian_determinant(field)
    _, sizes = folded_regions(determinant)
    # One label set for all panels: a label the warp lost does not shift the others' colours.
    values = np.union1d(*[np.unique(m) if m is not None else np.zeros(0, int) for m in (moving_mask, warped_mask)])

    def outlined(image, mask):
        return label_outlines(image, mask, values) if mask is not None else _grey(image)

    tiles = [
        ("moving" + (" + mask" if moving_mask is not None else ""), outlined(small["moving"], masks["moving"])),
        ("fixed" + (" + warped mask" if warped_mask is not None else ""), outlined(small["fixed"], masks["warped"])),
        ("warped" + (" + warped mask" if warped_mask is not None else ""), outlined(small["warped"], masks["warped"])),
        ("checkerboard: warped / fixed", _grey(checkerboard(small["warped"], small["fixed"]))),
        (f"|moving - fixed| before: mean {np.abs(before - fixed).mean():.3f}", _ramp(difference_before, top)),
        (f"|warped - fixed| after: mean {np.abs(warped - fixed).mean():.3f}", _ramp(difference_after, top)),
        ("deformation: fixed grid at p + u(p)", None),
        ((f"Jacobian: min {determinant.min():.2f}, folded {100 * np.mean(determinant <= 0):.2f}% in "
          f"{len(sizes)} region(s)"), _shrink(jacobian_rgb(determinant))[0]),
    ]
    side, gap, bar, head, foot, key = _PANEL_SIDE, 16, 26, 40 if title else 10, 34, 30
    canvas = Image.new("RGB", (4 * (side + gap) + gap, head + 2 * (bar + side + gap) + key + foot), "white")
    draw = ImageDraw.Draw(canvas)
    font, big = ImageFont.load_default(size=14), ImageFont.load_default(size=18)
    if title:
        draw.text((canvas.width / 2, 12), title, fill="black", font=big, anchor="mt")
    for k, (name, picture) in enumerate(tiles):
        x, y = gap + (k % 4) * (side + gap), head + (k // 4) * (bar + side + gap)
        draw.text((x + side / 2, y + bar / 2), name, fill="black", font=font, anchor="mm")
        if picture is None:
            # Drawn on its own tile: grid lines leaving the frame stop at its edge.
            tile = Image.new("RGB", (side, side), "white")
            _draw_grid(ImageDraw.Draw(tile), field, 0, 0, side)
            canvas.paste(tile, (x, y + bar))
        else:
            tile = Image.fromarray(picture)
            scale = side / max(tile.size)
            tile = tile.resize((round(tile.width * scale), round(tile.height * scale)), Image.NEAREST)
            canvas.paste(tile, (x, y + bar))
        draw.rectangle((x - 1, y + bar - 1, x + side, y + bar + side), outline="black")
    # Colour bars where colour carries a value: the differences (one scale for both) and the Jacobian.
    below = head + 2 * (bar + side) + gap + 6
    ramp = _ramp(np.linspace(0, top, 256), top)
    for column in (0, 1):
        _draw_key(canvas, gap + column * (side + gap), below, side, ramp,
                  ((0.0, "0"), (0.5, f"{top / 2:.2f}"), (1.0, f"{top:.2f}+")), font)
    _draw_key(canvas, gap + 3 * (side + gap), below, side, _jacobian_scale(256), _JACOBIAN_TICKS, font,
              ("folded", _FOLD_FILL))
    legend = [("Jacobian: area ratio on a log scale, blue compresses, red expands; folds black, outlined in "
               "yellow")]
    if values.size:
        legend.insert(0, "mask outlines: " + ", ".join(f"label {v}: {_colour_name(k)}"
                                                       for k, v in enumerate(v for v in values if v != 0)))
    draw.text((canvas.width / 2, canvas.height - foot / 2), ";   ".join(legend), fill="black", font=font, anchor="mm")
    with _DRAWING, atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG", compress_level=3)


def _colour_name(k):
    return _COLOUR_NAMES[k % len(_LABEL_COLOURS)]


def _resample(image, shape):
    """Bilinear resize to ``shape`` (the moving image shown in the fixed frame)."""
    from PIL import Image

    return np.asarray(Image.fromarray(np.asarray(image, np.float32)).resize(shape[::-1], Image.BILINEAR), np.float64)


def _draw_grid(draw, field, x, y, side, lines=24):
    """Fixed-image grid lines drawn where they sample the moving image (``p + u(p)``)."""
    height, width = field.shape[:2]
    scale = side / max(height, width)
    step = max(1, max(height, width) // lines)
    dense = max(1, step // 4)
    rows, columns = np.arange(0, height, dense), np.arange(0, width, dense)

    def polyline(ys, xs):
        points = np.stack([x + (xs + 0.5) * scale, y + (ys + 0.5) * scale], axis=-1)
        draw.line([tuple(p) for p in points], fill=(31, 119, 180), width=1)

    for row in range(0, height, step):
        polyline(row + field[row, columns, 0], columns + field[row, columns, 1])
    for column in range(0, width, step):
        polyline(rows + field[rows, column, 0], column + field[rows, column, 1])


def measures_picture(path, label_map, measures):
    """Where :func:`acregnet_cli.anatomy.measure` measured: the structures filled in their
    colours, each width drawn between its two extreme columns at the rows they were
    reached, and the values written below."""
    from PIL import Image, ImageDraw, ImageFont

    from acregnet_cli.io.atomic import atomic_path

    label_map = np.asarray(label_map)
    step = max(1, int(np.ceil(max(label_map.shape) / 512)))
    small = label_map[::step, ::step]
    picture = np.full(small.shape + (3,), 255, np.uint8)
    for k, value in enumerate(v for v in np.unique(label_map) if v != 0):
        colour = np.array(_LABEL_COLOURS[k % len(_LABEL_COLOURS)])
        picture[small == value] = np.rint(255 - (255 - colour) * 0.45).astype(np.uint8)
        picture[_outline(small == value)] = colour
    # Small masks are enlarged (whole pixels) so that the lines and text are legible.
    zoom = max(1, 512 // max(small.shape)) / step
    shown = Image.fromarray(picture).resize((round(label_map.shape[1] * zoom), round(label_map.shape[0] * zoom)),
                                            Image.NEAREST)
    canvas = Image.new("RGB", (shown.width, shown.height + 44), "white")
    canvas.paste(shown, (0, 0))
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default(size=13)
    unit = measures["unit"]
    for key, colour in (("thoracic_width", (0, 0, 0)), ("heart_width", (214, 39, 40))):
        where = measures["where"].get(key)
        if where is None:
            continue
        (first, last), (row_first, row_last) = where["columns"], where["rows"]
        x0, x1 = first * zoom, (last + 1) * zoom
        y = (row_first + row_last + 1) / 2 * zoom
        draw.line((x0, (row_first + 0.5) * zoom, x0, y), fill=colour, width=1)
        draw.line((x1, (row_last + 0.5) * zoom, x1, y), fill=colour, width=1)
        draw.line((x0, y, x1, y), fill=colour, width=2)
    lines = (f"thoracic width {measures['thoracic_width']} {unit} (black), heart width {measures['heart_width']} "
             f"{unit} (red)", f"cardiothoracic ratio {measures['ctr']}")
    for number, text in enumerate(lines):
        draw.text((canvas.width / 2, shown.height + 12 + 18 * number), text, fill="black", font=font, anchor="mm")
    with atomic_path(path) as tmp:
        canvas.save(tmp, format="PNG")
