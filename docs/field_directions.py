"""Draw docs/images/field-directions.png: which way a field maps points, on a real JSRT pair.

usage: ACREGNET_DATA=... python docs/field_directions.py
"""

import os
from pathlib import Path

import numpy as np

import acregnet_cli as acr
from acregnet_cli.io.plotting import new_figure, save_figure

HERE = Path(__file__).resolve().parent


def main():
    root = Path(os.environ["ACREGNET_DATA"]) / "data" / "JSRT" / "LR_256"
    names = sorted(p.name for p in (root / "images").iterdir())
    moving, _ = acr.read_image(root / "images" / names[0])
    fixed, _ = acr.read_image(root / "images" / names[4])
    field = acr.register(moving, fixed).field
    inverse, _ = acr.invert_field(field)
    # Landmarks: lung apices and costophrenic angles of the fixed image (row, column).
    fixed_points = np.array([[40.0, 70.0], [40.0, 185.0], [200.0, 45.0], [200.0, 210.0], [128.0, 128.0]])
    sampled = acr.map_points(fixed_points, field)
    moving_points = np.array([[60.0, 90.0], [60.0, 165.0], [190.0, 60.0], [190.0, 195.0]])
    landed = acr.map_points(moving_points, inverse)

    figure = new_figure(12, 4.6)
    axes = figure.subplots(1, 3)
    figure.subplots_adjust(left=0.01, right=0.99, top=0.82, bottom=0.02, wspace=0.05)
    panels = ((axes[0], fixed, "fixed image: points p", fixed_points, None),
              (axes[1], moving, "moving image: p + u(p)  (warp --points)", sampled, fixed_points),
              (axes[2], fixed, "moving points q -> fixed: q + v(q)\n(warp --points --direction moving-to-fixed)",
               landed, None))
    for axis, image, title, points, origins in panels:
        axis.imshow(image, cmap="gray", vmin=0, vmax=1)
        axis.scatter(points[:, 1], points[:, 0], s=40, c="#ff7f0e", edgecolors="black", zorder=3)
        if origins is not None:
            axis.scatter(origins[:, 1], origins[:, 0], s=25, facecolors="none", edgecolors="#1f77b4", zorder=3)
            for start, end in zip(origins, points):
                axis.annotate("", xy=(end[1], end[0]), xytext=(start[1], start[0]),
                              arrowprops={"arrowstyle": "->", "color": "#1f77b4", "lw": 1.2})
        axis.set_title(title, fontsize=10)
        axis.set_xticks([])
        axis.set_yticks([])
    axes[1].scatter(moving_points[:, 1], moving_points[:, 0], s=40, marker="s", c="#2ca02c", edgecolors="black",
                    zorder=3)
    axes[2].set_title(axes[2].get_title(), fontsize=10)
    figure.suptitle("The field lives on the fixed grid: u maps fixed pixels to where they sample the moving image "
                    "(orange, arrows from p in blue);\nmoving-image points (green squares) reach the fixed image "
                    "through the inverse v (orange, right)", fontsize=10)
    (HERE / "images").mkdir(exist_ok=True)
    save_figure(figure, HERE / "images" / "field-directions.png")


if __name__ == "__main__":
    main()
