"""Displacement fields and label maps in NumPy: the field convention in code.

A field ``u`` is an (H, W, 2) float array in pixels, channel 0 rows (y) and
channel 1 columns (x); the warped image is ``warped(p) = moving(p + u(p))``: the
field lives on the fixed image's grid and says where each of its pixels samples
the moving image. Nothing here imports TensorFlow.

``core`` holds the convention and the operations a saved field is used with,
``inverse`` the inverse field and how well it inverts, ``jacobian`` the Jacobian
determinant's summary and picture.
"""

from acregnet_cli.fields.core import (
    FieldSampler,
    check_field,
    check_registrable,
    compose_fields,
    crop,
    folding_fraction,
    grow,
    jacobian_determinant,
    map_points,
    mask_to_index,
    onehot,
    pad_to_square,
    sampled_outside,
    uncrop,
    upsample_labels,
    vote_labels,
    warp_image,
    warp_labels,
)
from acregnet_cli.fields.inverse import inverse_residual, inversion_report, invert_field
from acregnet_cli.fields.jacobian import (
    determinant_summary,
    folded_regions,
    jacobian_summary,
)

__all__ = [
    "FieldSampler",
    "check_field",
    "check_registrable",
    "compose_fields",
    "crop",
    "determinant_summary",
    "folded_regions",
    "folding_fraction",
    "grow",
    "inverse_residual",
    "inversion_report",
    "invert_field",
    "jacobian_determinant",
    "jacobian_summary",
    "map_points",
    "mask_to_index",
    "onehot",
    "pad_to_square",
    "sampled_outside",
    "uncrop",
    "upsample_labels",
    "vote_labels",
    "warp_image",
    "warp_labels",
]
