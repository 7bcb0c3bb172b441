"""Overlap and surface-distance metrics between label maps, in physical units.

The three metrics of the paper's Table 1, computed with MedPy
(:mod:`medpy.metric.binary`) for each foreground class of two label maps and then
averaged over the classes, as the paper did:

- Dice similarity coefficient (DSC), 1 for perfect overlap;
- Hausdorff distance (HD), the largest distance from a point of either surface to
  the other surface;
- average symmetric surface distance (ASSD), the mean of those distances over
  both surfaces.

Distances are in the unit of ``spacing`` (millimetres when the spacing is in mm).

Empty masks
-----------
MedPy's distances are undefined when a mask is empty (it raises). Here:

- a class absent from *both* maps counts as perfect agreement: DSC 1, HD 0, ASSD 0;
- a class present in only one map has DSC 0 and undefined distances: HD and ASSD
  are ``nan``.

The class average of a metric is ``nan`` as soon as one class's value is ``nan``
(a pair whose registration lost a structure is not given an optimistic mean
over the remaining classes); statistics over pairs then leave such pairs out and
say how many (see :mod:`acregnet_cli.evaluation.protocol`).
"""

import numpy as np
from medpy.metric import binary

METRICS = ("dsc", "hd", "assd")
# Which way each metric improves: overlap up, surface distances down.
HIGHER_IS_BETTER = {"dsc": True, "hd": False, "assd": False}


def _spacing(spacing, ndim):
    spacing = np.broadcast_to(np.asarray(spacing, dtype=np.float64), (ndim,))
    if np.any(spacing <= 0) or not np.all(np.isfinite(spacing)):
        raise ValueError(f"spacing must be positive and finite, got {spacing.tolist()}")
    return tuple(float(s) for s in spacing)


def _as_masks(result, reference):
    result = np.asarray(result).astype(bool)
    reference = np.asarray(reference).astype(bool)
    if result.shape != reference.shape:
        raise ValueError(f"masks differ in shape: {result.shape} and {reference.shape}")
    return result, reference


def dice(result, reference):
    """Dice similarity coefficient of two binary masks.

    Parameters
    ----------
    result, reference : array_like of bool, same shape
        Non-zero values are foreground.

    Returns
    -------
    float
        ``2 |A & B| / (|A| + |B|)`` in [0, 1]; 1.0 when both masks are empty.
    """
    result, reference = _as_masks(result, reference)
    if not result.any() and not reference.any():
        return 1.0
    return float(binary.dc(result, reference))


def class_dice(result, reference, classes):
    """Dice of each class in ``classes`` between two label maps (see :func:`dice`)."""
    result, reference = np.asarray(result), np.asarray(reference)
    return [dice(result == k, reference == k) for k in classes]


def mean_dice(result, reference, classes):
    """Mean over ``classes`` of the per-class Dice of two label maps."""
    return float(np.mean(class_dice(result, reference, classes)))


def _surface_distance(measure, result, reference, spacing):
    """A MedPy surface distance with the empty-mask rules of this module."""
    result, reference = _as_masks(result, reference)
    if not result.any() or not reference.any():
        return 0.0 if not result.any() and not reference.any() else float("nan")
    return float(measure(result, reference, voxelspacing=_spacing(spacing, result.ndim)))


def hausdorff(result, reference, spacing=1.0):
    """Hausdorff distance between the surfaces of two binary masks.

    Parameters
    ----------
    result, reference : array_like of bool, same shape
    spacing : float or sequence of float
        Pixel size along each axis (MedPy's ``voxelspacing``).

    Returns
    -------
    float
        In the unit of ``spacing``; 0.0 when both masks are empty, ``nan`` when
        exactly one is.
    """
    return _surface_distance(binary.hd, result, reference, spacing)


def average_surface_distance(result, reference, spacing=1.0):
    """Average symmetric surface distance (ASSD) between two binary masks.

    Parameters
    ----------
    result, reference : array_like of bool, same shape
    spacing : float or sequence of float
        Pixel size along each axis (MedPy's ``voxelspacing``).

    Returns
    -------
    float
        Mean of the two average surface distances (result to reference and
        reference to result), in the unit of ``spacing``; 0.0 when both masks
        are empty, ``nan`` when exactly one is.
    """
    return _surface_distance(binary.assd, result, reference, spacing)


def label_map_metrics(result, reference, num_classes, spacing=1.0):
    """DSC, HD and ASSD of every foreground class of two label maps, and their averages.

    Parameters
    ----------
    result : array_like of int
        Label map to score (e.g. the warped moving mask), class indices
        ``0 .. num_classes - 1`` with 0 the background.
    reference : array_like of int, same shape
        Ground truth (e.g. the fixed image's mask).
    num_classes : int
        Number of classes including the background; classes ``1 .. num_classes - 1``
        are scored.
    spacing : float or sequence of float
        Pixel size, in the unit the distances are wanted in.

    Returns
    -------
    per_class : dict
        ``{'dsc': ndarray, 'hd': ndarray, 'assd': ndarray}``, each of length
        ``num_classes - 1`` (foreground classes in order).
    average : dict
        ``{'dsc': float, 'hd': float, 'assd': float}``: the mean over the
        foreground classes; ``nan`` when a class's value is ``nan`` (see the
        module's notes on empty masks).
    """
    result = np.asarray(result)
    reference = np.asarray(reference)
    if result.shape != reference.shape:
        raise ValueError(f"label maps differ in shape: {result.shape} and {reference.shape}")
    if num_classes < 2:
        raise ValueError("num_classes must count the background and at least one class")
    per_class = {name: np.empty(num_classes - 1) for name in METRICS}
    for k in range(1, num_classes):
        a, b = result == k, reference == k
        per_class["dsc"][k - 1] = dice(a, b)
        per_class["hd"][k - 1] = hausdorff(a, b, spacing)
        per_class["assd"][k - 1] = average_surface_distance(a, b, spacing)
    average = {name: float(np.mean(values)) for name, values in per_class.items()}
    return per_class, average


def label_scores(result, reference, spacing=1.0):
    """Dice and Hausdorff distance per label value of two label maps (the non-zero values
    of either), and their mean Dice: how a warped mask meets the fixed image's own.

    Examples
    --------
    >>> a = np.zeros((8, 8), int); a[2:6, 2:6] = 3
    >>> b = np.zeros((8, 8), int); b[2:6, 3:7] = 3
    >>> label_scores(a, b)
    {'per_label': {'3': {'dice': 0.75, 'hd': 1.0}}, 'mean_dice': 0.75}
    """
    result, reference = np.asarray(result), np.asarray(reference)
    values = [int(v) for v in np.union1d(np.unique(result), np.unique(reference)) if v != 0]
    per_label = {}
    for value in values:
        mine, theirs = result == value, reference == value
        distance = hausdorff(mine, theirs, spacing)
        per_label[str(value)] = {"dice": round(dice(mine, theirs), 6),
                                 "hd": None if np.isnan(distance) else round(float(distance), 4)}
    mean = float(np.mean([score["dice"] for score in per_label.values()])) if per_label else None
    return {"per_label": per_label, "mean_dice": None if mean is None else round(mean, 6)}
