"""The network calls of the corpus pipeline's ``framing='align'``: atlases onto each image,
and where their fields agree on a global affine map far from the identity (a crop, zoom,
rotation or stretch the atlases do not share), the image resampled into the atlases' frame
and registered again; then the image onto its references. Every field is brought back to
the image's own frame (:mod:`acregnet_cli.fields.affine`).
"""

import numpy as np

from acregnet_cli.fields.affine import ALIGN_MIN_REACH, ALIGN_ROUNDS, affine_field, fit_affine, through_inverse


def per_item(fields, items, key):
    """A batch of fields cut into each item's share (``len(item[key])`` each)."""
    return np.split(fields, np.cumsum([len(item[key]) for item in items])[:-1])


def first_map(fields):
    """(affine map or None, reach): the map ``p -> A p + t`` the atlases' (k, S, S, 2) fields
    agree on, kept where it moves the network's grid more than ALIGN_MIN_REACH px."""
    matrix, shift, reach = fit_affine(fields.mean(axis=0))
    return ((matrix, shift) if reach > ALIGN_MIN_REACH else None), reach


def refined_map(affine, canonical_fields, round_):
    """The map composed with the one the atlases' fields on the resampled image still agree
    on, or None when that one is near the identity or the rounds are spent. The image's p is
    the canonical q = A p + t, which the atlases read at A2 q + t2: one map, so the image is
    resampled once from its own pixels."""
    matrix, shift, reach = fit_affine(canonical_fields.mean(axis=0))
    if round_ >= ALIGN_ROUNDS or reach <= ALIGN_MIN_REACH:
        return None
    first, offset = affine
    return matrix @ first, matrix @ offset + shift


def in_image_frame(affine, canonical_fields, warp, size):
    """Atlas fields found on the resampled image, in the image's frame p: the atlas is read
    at q + F(q), q = A p + t the position of p in the atlases' frame. ``warp(images, fields)``
    warps (B, S, S, C) by (B, S, S, 2)."""
    forward = affine_field(*affine, size)
    return forward[None] + warp(canonical_fields, np.repeat(forward[None], len(canonical_fields), 0))


def align(items, register, warp, size):
    """The rounds of the alignment, for ``corpus`` (a batch) and ``segment`` (one image).

    Each item holds ``fields`` (k, S, S, 2), its atlases' fields onto its network-size image
    ``small``. ``register(items, key)`` registers each item's atlases onto ``item[key]`` and
    returns their fields per item; ``warp(images, fields)`` warps (B, S, S, C) by (B, S, S, 2).
    Sets ``affine`` (None where the image is left as it is) and ``reach`` on every item; on an
    aligned one, ``canonical`` (the image resampled into the atlases' frame) and ``fields`` in
    the image's frame after the last round, and ``gate_fields``, the fields after the first
    round, where more rounds followed: judge the image on these (more rounds fit anything
    better, a photograph too: three of 18 pictures passed the agreement gate with three
    rounds against none with one).
    """
    for item in items:
        item["affine"], item["reach"] = first_map(item["fields"])
    pending = [item for item in items if item["affine"] is not None]
    for round_ in range(1, ALIGN_ROUNDS + 1):
        if not pending:
            break
        for item in pending:
            back = affine_field(*item["affine"], size, inverse=True)
            item["canonical"] = warp(item["small"][None, ..., None], back[None])[0, ..., 0]
        still = []
        for item, canonical_fields in zip(pending, register(pending, "canonical")):
            refined = refined_map(item["affine"], canonical_fields, round_)
            if refined is None:
                item["fields"] = in_image_frame(item["affine"], canonical_fields, warp, size)
                continue
            if round_ == 1:
                item["gate_fields"] = in_image_frame(item["affine"], canonical_fields, warp, size)
            item["affine"] = refined
            still.append(item)
        pending = still


class AlignedStart:
    """What :class:`~acregnet_cli.applications.corpus.CorpusPipeline` does for
    ``framing='align'`` (it provides ``atlases``, ``references``, ``size``, ``_predict`` and
    ``_warp_small``)."""

    def _atlases_onto(self, items, key):
        """Each item's chosen atlases registered onto its image ``item[key]``: a list of fields."""
        fields = self._predict(np.concatenate([self.atlases.small[p["chosen"]] for p in items]),
                               np.concatenate([np.repeat(p[key][None], len(p["chosen"]), 0) for p in items]))
        return per_item(fields, items, "chosen")

    def _start_aligned(self, prepared):
        """Atlases onto each image, aligned by :func:`align`; then each image (resampled where
        aligned) onto its references, those fields brought back to the image's frame."""
        for item, item_fields in zip(prepared, self._atlases_onto(prepared, "small")):
            item["fields"] = item_fields
        align(prepared, self._atlases_onto, self._warp_small, self.size)
        if self.references is None:
            return
        fields = self._predict(np.concatenate([np.repeat(p.get("canonical", p["small"])[None], len(p["references"]), 0)
                                               for p in prepared]),
                               np.concatenate([self.references.small[p["references"]] for p in prepared]))
        for item, reference_fields in zip(prepared, per_item(fields, prepared, "references")):
            if item["affine"] is not None:
                # The resampled image at r + R(r) is the image at A^-1 (r + R(r) - t).
                reference_fields = through_inverse(reference_fields, *item["affine"])
            item["reference_fields"] = reference_fields
