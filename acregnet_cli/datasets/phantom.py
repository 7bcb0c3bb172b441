"""Procedural chest radiograph phantoms with their masks.

A phantom is a frontal chest radiograph drawn from a few anatomical parts (body,
lungs, heart, mediastinum, spine, ribs, clavicles) whose shape, size, position
and exposure vary between subjects. Labels follow the JSRT convention: 0
background, 1 left lung (patient's left, image right), 2 right lung, 3 heart.
Pairs can be related by a known smooth deformation, for testing registration
without any patient data.
"""

import numpy as np
from scipy import ndimage

LEFT_LUNG, RIGHT_LUNG, HEART = 1, 2, 3


def _smooth_noise(rng, shape, sigma):
    noise = ndimage.gaussian_filter(rng.standard_normal(shape), sigma)
    return noise / (noise.std() + 1e-12)


def _lung(yy, xx, side, p):
    """Boolean mask of one lung: a tall rounded shape cut by the diaphragm dome."""
    cx = 0.5 + side * p["lung_offset"]
    width, top, bottom = p["lung_width"], p["apex"], p["base"] + (p["base_tilt"] if side > 0 else 0.0)
    height = bottom - top
    u = (xx - cx) / width  # -1..1 across the lung
    v = (yy - top) / height  # 0 at the apex, 1 at the base
    # A rounded apex (quarter ellipse over the top 30%) widening towards the base.
    top_part = np.clip(v, 0, 0.3) / 0.3
    half = np.sqrt(np.clip(1 - (1 - top_part) ** 2, 0, 1)) * (0.75 + 0.25 * np.clip(v, 0, 1))
    # The lateral wall bulges outwards, the medial border stays straighter.
    lateral = side * u > 0
    half = half * np.where(lateral, 1.0, 0.85)
    inside = (np.abs(u) < half) & (v > 0) & (v < 1.15)
    # Diaphragm dome, lower laterally (costophrenic angle).
    dome = v < 1.0 - 0.1 * (1 - (side * u + 1) / 2) + 0.08 * (1 - u ** 2)
    return inside & dome


def make_subject(rng, size=256):
    """Draw one phantom subject.

    Parameters
    ----------
    rng : numpy.random.RandomState
    size : int
        Output is ``size`` x ``size``.

    Returns
    -------
    image : ndarray float32 (size, size), values in [0, 1]
    labels : ndarray uint8 (size, size), JSRT label values 0..3
    """
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) / size
    p = {
        "lung_offset": rng.uniform(0.17, 0.21),
        "lung_width": rng.uniform(0.14, 0.17),
        "apex": rng.uniform(0.12, 0.2),
        "base": rng.uniform(0.7, 0.8),
        "base_tilt": rng.uniform(-0.05, 0.02),
    }
    angle = rng.uniform(-0.06, 0.06)
    shift = rng.uniform(-0.04, 0.04, 2)
    # Small rotation and shift of the whole anatomy.
    cy, cx = yy - 0.5 - shift[0], xx - 0.5 - shift[1]
    yr = 0.5 + np.cos(angle) * cy - np.sin(angle) * cx
    xr = 0.5 + np.sin(angle) * cy + np.cos(angle) * cx

    body = ((xr - 0.5) / rng.uniform(0.46, 0.52)) ** 2 + ((yr - 0.75) / 0.78) ** 2 < 1.0
    right = _lung(yr, xr, -1, p)  # image left
    left = _lung(yr, xr, +1, p)   # image right
    heart_cy, heart_cx = p["base"] - rng.uniform(0.12, 0.17), 0.5 + rng.uniform(0.05, 0.09)
    heart_ry, heart_rx = rng.uniform(0.1, 0.14), rng.uniform(0.12, 0.16)
    heart = ((yr - heart_cy) / heart_ry) ** 2 + ((xr - heart_cx) / heart_rx) ** 2 < 1.0
    heart &= yr < p["base"] + 0.02
    left &= ~heart
    right &= ~heart

    spine = (np.abs(xr - 0.5) < 0.035) & body
    mediastinum = (np.abs(xr - 0.5) < 0.07 + 0.04 * yr) & body & ~left & ~right
    ribs = np.zeros_like(yy)
    for k in range(10):
        level = p["apex"] + 0.02 + k * (p["base"] - p["apex"]) / 10.0
        # Posterior ribs: arcs descending laterally from the spine.
        arc = level + 0.18 * (np.abs(xr - 0.5) / 0.4) ** 1.6
        ribs += np.exp(-(((yr - arc) / 0.012) ** 2)) * (np.abs(xr - 0.5) < 0.44)
    clavicles = np.zeros_like(yy)
    for side in (-1, 1):
        line = p["apex"] + 0.02 - 0.12 * (side * (xr - 0.5) - 0.05)
        clavicles += np.exp(-(((yr - line) / 0.012) ** 2)) * (side * (xr - 0.5) > 0.04) * (side * (xr - 0.5) < 0.32)

    lungs = left | right
    image = 0.04 + 0.5 * body
    image -= 0.32 * ndimage.gaussian_filter(lungs.astype(float), 1.5)
    image += 0.12 * mediastinum + 0.1 * ndimage.gaussian_filter(heart.astype(float), 2.0)
    image += 0.15 * spine * (0.8 + 0.2 * np.cos(yr * 2 * np.pi * 14))
    image += 0.1 * np.clip(ribs, 0, 1) * body + 0.15 * np.clip(clavicles, 0, 1) * body
    image += 0.03 * _smooth_noise(rng, (size, size), size / 64.0) * lungs  # vessels
    image = ndimage.gaussian_filter(image, size / 256.0)
    # Exposure: gain, offset and gamma differ between subjects.
    image = np.clip(image, 0, 1) ** rng.uniform(0.8, 1.25)
    image = rng.uniform(0.85, 1.15) * image + rng.uniform(-0.04, 0.04)
    image += rng.normal(0, 0.01, image.shape)

    labels = np.zeros((size, size), np.uint8)
    labels[left] = LEFT_LUNG
    labels[right] = RIGHT_LUNG
    labels[heart & body] = HEART
    return np.clip(image, 0, 1).astype(np.float32), labels


def smooth_field(rng, size, max_displacement=6.0, smoothness=0.12):
    """A random smooth displacement field (size, size, 2) in pixels (rows, columns)."""
    sigma = smoothness * size
    field = np.stack([ndimage.gaussian_filter(rng.standard_normal((size, size)), sigma, mode="reflect")
                      for _ in range(2)], axis=-1)
    return field / (np.abs(field).max() + 1e-12) * max_displacement


def warp_numpy(array, field, order=1):
    """Warp a 2-D array: ``out(p) = array(p + u(p))`` with border clamping (the project's convention)."""
    rows, cols = np.mgrid[0:array.shape[0], 0:array.shape[1]].astype(np.float64)
    coords = [rows + field[..., 0], cols + field[..., 1]]
    return ndimage.map_coordinates(array, coords, order=order, mode="nearest")


def make_deformed_pair(rng, size=256, max_displacement=6.0):
    """A subject and a copy of it deformed by a known smooth field.

    Returns
    -------
    dict with moving, fixed (images), moving_labels, fixed_labels, field: the
    field with ``fixed = moving(p + field(p))``.
    """
    image, labels = make_subject(rng, size)
    field = smooth_field(rng, size, max_displacement)
    fixed = warp_numpy(image, field, order=1)
    fixed_labels = warp_numpy(labels, field, order=0).astype(np.uint8)
    return dict(moving=image, fixed=fixed.astype(np.float32), moving_labels=labels,
                fixed_labels=fixed_labels, field=field.astype(np.float32))


def write_phantom_dataset(output, count, size=256, seed=0, test_fraction=0.2, overwrite=False):
    """Write ``count`` phantom subjects as a dataset in the authors' layout.

    Creates ``images/`` and ``labels/`` under ``data/Phantom/LR_<size>/``, split
    lists, a dataset description ``phantom.toml`` usable as ``--dataset``, and
    ``pairs.csv`` registering each subject onto the next (with masks), for
    ``register --pairs``.

    Returns
    -------
    dict : paths written (dataset config, pairs CSV) and the subject names.
    """
    from pathlib import Path

    from acregnet_cli.errors import InputError
    from acregnet_cli.io.atomic import write_png_atomic, write_text_atomic
    from acregnet_cli.io.images import to_bit_depth

    output = Path(output)
    config_path = output / "phantom.toml"
    if config_path.exists() and not overwrite:
        raise InputError(f"{output}: holds phantoms already (use --overwrite to replace them)")
    if count < 2:
        raise InputError(f"need at least 2 phantoms, got {count}")
    rng = np.random.RandomState(seed)
    base = output / "data" / "Phantom"
    names = [f"phantom_{i:04d}" for i in range(count)]
    for name in names:
        image, labels = make_subject(rng, size)
        write_png_atomic(base / f"LR_{size}" / "images" / f"{name}.png", to_bit_depth(image, 8))
        write_png_atomic(base / f"LR_{size}" / "labels" / f"{name}.png", labels)
    test_count = max(1, int(round(test_fraction * count))) if count > 2 else 1
    folds = {"train": names[:-test_count], "test": names[-test_count:]}
    for fold, chosen in folds.items():
        for kind in ("images", "labels"):
            lines = [f"data/Phantom/LR_{size}/{kind}/{n}.png" for n in chosen]
            write_text_atomic(base / "split" / f"{fold}_{kind}_{size}.txt", "\n".join(lines) + "\n")
    rows = ["moving,fixed,moving_mask,name"]
    for a, b in zip(names[:-1], names[1:]):
        rows.append(f"data/Phantom/LR_{size}/images/{a}.png,data/Phantom/LR_{size}/images/{b}.png,"
                    f"data/Phantom/LR_{size}/labels/{a}.png,{a}_to_{b}")
    write_text_atomic(output / "pairs.csv", "\n".join(rows) + "\n")
    write_text_atomic(config_path, (
        "# Procedural phantoms written by `acregnet phantom`; use with --dataset and --data-dir.\n"
        f'name = "phantom"\ndirectory = "data/Phantom"\nsizes = [{size}]\n'
        'label_values = [0, 1, 2, 3]\nclass_names = ["background", "left lung", "right lung", "heart"]\n'
        f"standard_pixels = {size}\nstandard_spacing_mm = 1.0\ndistance_unit = \"px\"\n"
    ))
    return {"dataset_config": str(config_path), "pairs": str(output / "pairs.csv"), "subjects": names}
