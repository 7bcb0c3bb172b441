"""The demo: a phantom pair registered with a model, with an overlay figure."""

from pathlib import Path

import numpy as np

from acregnet_cli.datasets.phantom import make_subject
from acregnet_cli.errors import InputError
from acregnet_cli.io.atomic import write_json_atomic, write_png_atomic
from acregnet_cli.io.images import to_bit_depth
from acregnet_cli.io.pairs import Pair
from acregnet_cli.metrics import mean_dice
from acregnet_cli.options import RegistrationOptions
from acregnet_cli.workflows.register import register_pairs

# The phantom's structures: left lung, right lung, heart (JSRT's label values).
PHANTOM_CLASSES = (1, 2, 3)


def save_overlay(path, moving, fixed, warped, fixed_mask, moving_mask, warped_mask):
    """Moving, fixed and warped images with the fixed mask's contours (and the mask compared)."""
    from acregnet_cli.io.pictures import label_colour, label_legend
    from acregnet_cli.io.plotting import new_figure, save_figure

    figure = new_figure(12, 4.6)
    axes = figure.subplots(1, 3)
    for axis, image, mask, title in ((axes[0], moving, moving_mask, "moving"),
                                     (axes[1], fixed, fixed_mask, "fixed"),
                                     (axes[2], warped, warped_mask, "moving registered to fixed")):
        axis.imshow(image, cmap="gray", vmin=0, vmax=1)
        for k, value in enumerate(PHANTOM_CLASSES):
            # The same colours as every other figure: solid the image's own mask, dashed the fixed one.
            axis.contour(mask == value, levels=[0.5], colors=[label_colour(k)], linewidths=0.9)
            axis.contour(fixed_mask == value, levels=[0.5], colors=[label_colour(k)], linewidths=0.8,
                         linestyles="dashed")
        axis.set_title(title)
        axis.axis("off")
    figure.tight_layout(rect=(0, 0.07, 1, 1))
    label_legend(figure, PHANTOM_CLASSES, {1: "left lung", 2: "right lung", 3: "heart"},
                 styles=(("solid", "the image's own (warped) mask"), ("dashed", "the fixed image's mask")))
    save_figure(figure, path)


def run_demo(output, model=None, seed=1, size=256, overwrite=False):
    """Make a phantom pair of two different subjects, register it, measure and draw it."""
    output = Path(output)
    if (output / "demo.json").exists() and not overwrite:
        raise InputError(f"{output}: holds a demo already (use --overwrite to replace it)")
    rng = np.random.RandomState(seed)
    moving, moving_mask = make_subject(rng, size)
    fixed, fixed_mask = make_subject(rng, size)
    inputs = output / "inputs"
    for name, image in (("moving.png", moving), ("fixed.png", fixed)):
        write_png_atomic(inputs / name, to_bit_depth(image, 8))
    write_png_atomic(inputs / "moving_mask.png", moving_mask)
    write_png_atomic(inputs / "fixed_mask.png", fixed_mask)
    pair = Pair(inputs / "moving.png", inputs / "fixed.png", inputs / "moving_mask.png", "registration")
    # One pair: NumPy inference, so the demo does not wait for TensorFlow to start.
    summary = register_pairs([(pair, output / "registration")], model, RegistrationOptions(engine="numpy"),
                             overwrite=True)[0]
    from acregnet_cli.io.images import read_image, read_label_map

    warped, _ = read_image(output / "registration" / "warped.png")
    warped_mask = read_label_map(output / "registration" / "warped_mask.png")
    save_overlay(output / "overlay.png", moving, fixed, warped, fixed_mask, moving_mask, warped_mask)
    result = {
        "dice_before": mean_dice(moving_mask, fixed_mask, PHANTOM_CLASSES),
        "dice_after": mean_dice(warped_mask, fixed_mask, PHANTOM_CLASSES),
        "overlay": str(output / "overlay.png"),
        "registration": str(output / "registration"),
        "model": summary["model"],
        "seconds_total": summary["seconds_total"],
        "jacobian_nonpositive_fraction": summary["jacobian_nonpositive_fraction"],
    }
    write_json_atomic(output / "demo.json", result)
    return result
