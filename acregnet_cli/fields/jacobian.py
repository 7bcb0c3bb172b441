"""Where and how much a field folds: the Jacobian determinant's summary.

The determinant is that of ``p -> p + u(p)`` by central differences
(:func:`~acregnet_cli.fields.core.jacobian_determinant`); a pixel folds where it is
at most 0. A share alone hides whether folds are one large tear or scattered
specks, so the summary also gives the largest connected folded region.
"""

import numpy as np

from acregnet_cli.fields.core import check_field, jacobian_determinant


def folded_regions(determinant):
    """Connected folded regions (8-connected pixels with determinant <= 0).

    Returns
    -------
    labels : (H, W) int array, 0 outside folds
    sizes : (N,) int array, pixels per region, by label 1..N

    Examples
    --------
    >>> determinant = np.ones((5, 5)); determinant[0, :2] = -1; determinant[4, 4] = 0
    >>> folded_regions(determinant)[1].tolist()
    [2, 1]
    """
    from scipy import ndimage

    labels, count = ndimage.label(np.asarray(determinant) <= 0, structure=np.ones((3, 3)))
    return labels, np.bincount(labels.ravel(), minlength=count + 1)[1:]


def jacobian_summary(field):
    """The Jacobian determinant of a field in numbers: minimum, mean, share folded,
    number and size of folded regions.

    Examples
    --------
    >>> stretch = np.zeros((6, 6, 2)); stretch[..., 1] = np.arange(6) * 0.5   # columns x 1.5
    >>> summary = jacobian_summary(stretch)
    >>> summary["jacobian_min"], summary["jacobian_nonpositive_fraction"], summary["folded_regions"]
    (1.5, 0.0, 0)
    """
    return determinant_summary(jacobian_determinant(check_field(field)))


def determinant_summary(determinant):
    """:func:`jacobian_summary` of a determinant map already computed."""
    _, sizes = folded_regions(determinant)
    return {
        "jacobian_min": float(determinant.min()),
        "jacobian_mean": float(determinant.mean()),
        "jacobian_nonpositive_fraction": float(np.mean(determinant <= 0)),
        "folded_regions": len(sizes),
        "largest_folded_region_px": int(sizes.max(initial=0)),
    }
