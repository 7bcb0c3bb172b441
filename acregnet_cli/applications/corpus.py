"""Segmenting and quality-checking a corpus: each step at the resolution it needs.

The paper's Section 5.3 at scale: for every image, the ``k`` atlases most similar by
normalized cross-correlation are registered onto it and their masks fused by
majority vote; the fused mask's Dice is then estimated by reverse classification
accuracy (RCA): the image, carrying its mask, is registered onto the most similar
references, and the best Dice reached over them is the estimate.

What needs full resolution is only the warp and vote of the atlas masks near the
structures' boundaries. So:

- atlas selection (NCC) and the network run at the network's size (64);
- the atlas masks are warped and voted on the atlases' 256 grid first; pixels where
  the atlases agree there (all but a band along the boundaries) take that label, and
  only the band is warped and voted again at the image's own resolution;
- RCA registers and scores at 256, the references' grid.

Atlases and references are brought to a 256x256 square once (padded, resized; masks by
nearest label) and kept as network inputs and class indices.
"""

import dataclasses
import time

import numpy as np

from acregnet_cli.anatomy import chexmask_groups
from acregnet_cli.applications.alignment import AlignedStart
from acregnet_cli.applications.library import (
    WORK,
    Library,
    atlas_agreement,
    ncc_vector,
    nearest_index,
    nearest_square,
    resize_square,
)
from acregnet_cli.errors import InputError
from acregnet_cli.fields import crop, grow, pad_to_square, uncrop, vote_labels
from acregnet_cli.fields.grids import field_at, field_on_grid
from acregnet_cli.io.intensity import FEW_LEVELS, grey_levels


def _majority(labels, classes):
    """Per-pixel majority of (A, ...) class indices; ties go to the lowest class (as
    ``segmentation.fuse``)."""
    counts = np.stack([(labels == k).sum(axis=0, dtype=np.uint8) for k in range(classes)])
    return np.argmax(counts, axis=0).astype(np.uint8)


@dataclasses.dataclass
class CorpusResult:
    """One image's mask (label values, the image's size) and quality."""

    labels: np.ndarray      # None when not segmented (see ``reason``)
    atlases: list
    atlas_ncc: list
    reason: str = ""
    estimated_dice: float = None
    dice_per_class: dict = None
    best_reference: str = None
    # CheXmask's 'Dice RCA (Mean)' and '(Max)': over the references, the mean of the
    # both-lungs Dice and the heart Dice (see :func:`acregnet_cli.anatomy.chexmask_groups`).
    rca_mean: float = None
    rca_max: float = None
    # How much the k warped atlas masks agree with their fused mask (mean Dice, work grid):
    # low where the atlases fit the image in different ways.
    agreement: float = None
    band_fraction: float = 0.0
    seconds: float = 0.0
    # framing 'align': how far (network pixels) the atlases' global map moved the grid,
    # and whether the image was resampled by it.
    reach: float = None
    aligned: bool = False
    # What the image was taken for (VIEWS): 'frontal' where it was segmented.
    view: str = "frontal"


# corpus.csv's view column. Laterals, CT or MR slices, photographs and other body parts
# are all 'other': the gates see only that the frontal atlases do not fit (laterals were
# not at hand to tell them apart; experiments/views).
VIEWS = {
    "frontal": "a frontal chest radiograph: segmented",
    "other": "not a frontal chest radiograph (a lateral, a CT or MR slice, a photograph, another body part): "
             "the atlases do not fit it",
    "not-radiograph": "a mask or a drawing: a handful of grey levels",
}


# An image unlike every atlas (its most similar correlates under UNLIKE_NCC) must clear
# the agreement threshold by UNLIKE_MARGIN more: a microscopy picture, the moon and a
# retina had atlases agreeing at 0.92-0.94 and a best NCC of 0.25-0.33; of 1,739 frontal
# films of three hospitals, variously framed, one was that unlike and that scattered
# (a mask of true Dice 0.88; experiments/views/README.md).
UNLIKE_NCC = 0.35
UNLIKE_MARGIN = 0.04
# corpus's --min-ncc default: an image whose most similar atlas correlates less is not
# taken for a chest radiograph (segment and qc warn on it).
MIN_NCC = 0.15


def frontal_refusal(best_ncc, agreement, atlases, min_agreement):
    """Why an image whose ``atlases`` warped masks agree at ``agreement`` (most similar atlas
    at NCC ``best_ncc``) is not taken for a frontal chest radiograph, or '' if it is.

    Examples
    --------
    >>> frontal_refusal(0.8, 0.98, 5, 0.90), frontal_refusal(0.8, 0.93, 5, 0.90)
    ('', '')
    >>> frontal_refusal(0.3, 0.93, 5, 0.90)
    'not a frontal chest radiograph? its 5 atlases agree at 0.930 (< 0.94, its most similar atlas correlates 0.30)'
    """
    if not min_agreement or atlases < 2 or agreement is None:  # None or 0: the gate is off
        return ""
    unlike = best_ncc < UNLIKE_NCC
    needed = min_agreement + UNLIKE_MARGIN if unlike else min_agreement
    if agreement >= needed:
        return ""
    because = f", its most similar atlas correlates {best_ncc:.2f}" if unlike else ""
    return f"not a frontal chest radiograph? its {atlases} atlases agree at {agreement:.3f} (< {needed:g}{because})"


class CorpusPipeline(AlignedStart):
    """Multi-atlas segmentation and RCA quality of many images, in batches.

    Parameters
    ----------
    atlases, references : AtlasSet
        References may be None (no quality estimate). Their label values must be the
        atlases' (the mask is scored against theirs).
    registrar : Registrar
        Its network, resize method and engine (``ops``) are used.
    k : int
        Atlases fused per image.
    max_references : int
        References registered per image for RCA (the most similar by NCC).
    band : bool
        Redo at full resolution only the band where the work-grid vote is unsure
        (default); False redoes every pixel (the exact reference the band is tested against).
    framing : {'align', 'field-of-view', 'none'}
        'align' (default): as 'field-of-view', and an image whose atlases' fields agree on a global
        affine map (a tight crop, zoom, rotation, stretch) is resampled into the atlases'
        frame by it and registered again (:meth:`_start_aligned`).
        'field-of-view': each image is cut to its field of view (the image
        less uniform bands along its edges: padding, letterboxing, a grey border;
        :func:`acregnet_cli.io.intensity.field_of_view`) before it is matched and
        registered, and its mask is put back into the whole frame (background outside);
        'none': the whole frame, as the paper's images were framed.
    """

    def __init__(self, atlases, references, registrar, k=5, max_references=20, band=True, framing="align",
                 min_agreement=None):
        from acregnet_cli.options import FRAMINGS

        if k < 1 or max_references < 1:
            raise InputError("k and max_references must be at least 1")
        if framing not in FRAMINGS:
            raise InputError(f"framing must be one of {', '.join(FRAMINGS)}, got {framing!r}")
        self.framing = framing
        # Below this agreement of the warped atlases the image is not taken for a frontal
        # chest radiograph (a photograph, a CT or MR slice: the atlases fit it each their own way).
        self.min_agreement = min_agreement
        self.registrar = registrar
        self.band = band
        self.size = registrar.size
        # Atlases and references are framed as the images they meet: cut to their field of view too.
        crop = None if framing == "none" else self._frame
        self.atlases = Library.from_atlases(atlases, self.size, crop=crop)
        self.values = self.atlases.values
        self.references = None
        if references is not None:
            unknown = np.setdiff1d(references.values, self.values)
            if unknown.size:
                raise InputError(f"reference labels {unknown.tolist()} are not among the atlases' "
                                 f"{self.values.tolist()}")
            self.references = Library.from_atlases(references, self.size, self.values, crop=crop)
            # Class indices, flat: one bincount per registered reference gives every Dice.
            self._reference_truth = [np.asarray(index, np.intp).ravel() for index in self.references.index]
        self.k = min(k, len(self.atlases.names))
        self.max_references = min(max_references, len(self.references.names)) if references is not None else 0

    def _frame(self, image):
        """(top, left, height, width) of the part of ``image`` that is segmented."""
        if self.framing == "none":
            return (0, 0) + image.shape
        from acregnet_cli.io.intensity import field_of_view

        return field_of_view(image)

    @staticmethod
    def _to_frame(labels, item):
        """Labels of an image's field of view placed into its whole frame (background outside)."""
        return labels if labels.shape == tuple(item["shape"]) else uncrop(labels, item["frame"], item["shape"])

    def _warp_small(self, images, fields):
        """Bilinear warp at network size of (S, S) or (B, S, S, C) ``images`` by (S, S, 2) or (B, S, S, 2) fields."""
        single = np.ndim(images) == 2
        batch = np.asarray(images, np.float32)[None, ..., None] if single else np.asarray(images, np.float32)
        fields = np.asarray(fields, np.float32).reshape((-1,) + np.shape(fields)[-3:])
        warped = np.asarray(self.registrar.ops.warp(batch, fields), np.float32)
        return warped[0, ..., 0] if single else warped

    def _predict(self, moving, fixed):
        pairs = np.stack([moving, fixed], axis=-1).astype(np.float32)
        return np.asarray(self.registrar.predict_small(pairs[..., 0], pairs[..., 1]), np.float32)

    def process(self, images, min_ncc=None):
        """Segment and score a batch of 2-D float images in [0, 1]: a :class:`CorpusResult` each.

        An image whose most similar atlas correlates less than ``min_ncc`` (NCC at the
        network's size) is not segmented: its result has no labels and says why.
        ``process`` is :meth:`start` then :meth:`finish`; a caller may run the finish of
        one batch (NumPy) while the next one starts (the network), on two cores.
        """
        return self.finish(self.start(images, min_ncc))

    def start(self, images, min_ncc=None):
        """Rank atlases and references and run the network for every pair of the batch."""
        began = time.perf_counter()
        prepared, refused = [], {}
        for position, image in enumerate(images):
            image = np.asarray(image, np.float32)
            levels = grey_levels(image)
            if levels <= FEW_LEVELS:
                # A label map or a drawing (masks are often stored beside the images).
                refused[position] = CorpusResult(None, [], [], view="not-radiograph", reason=(
                    f"not a radiograph: {levels} grey levels (a mask or a drawing?)"))
                continue
            frame = self._frame(image)
            square, box = pad_to_square(crop(image, frame))
            small = resize_square(square, self.size)
            vector = ncc_vector(small)
            chosen, ncc = self.atlases.rank(vector, self.k)
            if min_ncc is not None and ncc[0] < min_ncc:
                refused[position] = CorpusResult(None, [self.atlases.names[i] for i in chosen],
                                                 [float(v) for v in ncc], view="other",
                                                 reason=f"not a chest radiograph? its most similar atlas correlates "
                                                        f"{ncc[0]:.2f} (< {min_ncc:g})")
                continue
            references = self.references.rank(vector, self.max_references)[0] if self.references else []
            prepared.append({"side": square.shape[0], "box": box, "small": small, "chosen": chosen, "ncc": ncc,
                             "references": references, "frame": frame, "shape": image.shape})
        if prepared and self.framing != "align":
            # One network call: atlases onto each image, and each image onto its references (RCA).
            moving = [self.atlases.small[p["chosen"]] for p in prepared]
            fixed = [np.repeat(p["small"][None], len(p["chosen"]), 0) for p in prepared]
            if self.references is not None:
                moving += [np.repeat(p["small"][None], len(p["references"]), 0) for p in prepared]
                fixed += [self.references.small[p["references"]] for p in prepared]
            fields = self._predict(np.concatenate(moving), np.concatenate(fixed))
            start = 0
            for item in prepared:
                item["fields"] = fields[start:start + len(item["chosen"])]
                start += len(item["chosen"])
            for item in prepared if self.references is not None else ():
                item["reference_fields"] = fields[start:start + len(item["references"])]
                start += len(item["references"])
        elif prepared:
            self._start_aligned(prepared)
        return {"prepared": prepared, "refused": refused, "count": len(images), "began": began}

    def finish(self, batch):
        """Fuse the masks (work grid, then the full-resolution band) and score them."""
        prepared, refused = batch["prepared"], batch["refused"]
        results = []
        for item in prepared:
            labels, work, band, agreement = self._fuse(item["fields"], item)
            names, ncc = [self.atlases.names[i] for i in item["chosen"]], [float(v) for v in item["ncc"]]
            refusal = frontal_refusal(ncc[0], agreement, len(names), self.min_agreement)
            if refusal:
                results.append(CorpusResult(None, names, ncc, agreement=agreement, view="other", reason=refusal))
                continue
            results.append(CorpusResult(self._to_frame(self.values[labels], item), names, ncc, band_fraction=band,
                                        reach=item.get("reach"), aligned=item.get("affine") is not None,
                                        agreement=agreement))
            item["work_labels"] = work
        if self.references is not None:
            kept = [k for k, result in enumerate(results) if result.labels is not None]
            self._score([prepared[k] for k in kept], [results[k] for k in kept])
        per_image = (time.perf_counter() - batch["began"]) / max(batch["count"], 1)
        for result in results:
            result.seconds = per_image
        results = iter(results)
        return [refused[i] if i in refused else next(results) for i in range(batch["count"])]

    def estimate(self, images, masks):
        """RCA estimates of given masks (label values as the atlases') of ``images``: a
        :class:`CorpusResult` each, with the mask as given (quality control alone)."""
        if self.references is None:
            raise InputError("estimate needs references")
        batch = self.start(images)
        results = []
        for item, mask in zip(batch["prepared"], masks):
            unknown = np.setdiff1d(np.unique(mask), self.values)
            if unknown.size:
                raise InputError(f"mask values {unknown.tolist()} are not among the atlases' {self.values.tolist()}")
            square, _ = pad_to_square(crop(np.asarray(mask), item["frame"]))
            item["work_labels"] = np.searchsorted(self.values, nearest_square(square, WORK)).astype(np.uint8)
            results.append(CorpusResult(np.asarray(mask), [], []))
        self._score(batch["prepared"], results)
        return results

    def _work_votes(self, fields, item):
        """(k, WORK, WORK) class indices of each chosen atlas warped onto the work grid."""
        side, classes = item["side"], len(self.values)
        # Work-grid pixel centres in the square image's pixels.
        centres = (np.arange(WORK, dtype=np.float32) + 0.5) * np.float32(side / WORK) - 0.5
        rows, columns = np.meshgrid(centres, centres, indexing="ij")
        to_atlas = np.float32(WORK / side)
        # Where each centre samples the atlas (brought to the image's size as the registrar
        # brings a moving image), on the atlas's own 256 grid.
        return np.stack([vote_labels(self.atlases.index[atlas], (rows + at[..., 0] + 0.5) * to_atlas - 0.5,
                                     (columns + at[..., 1] + 0.5) * to_atlas - 0.5, classes)
                         for at, atlas in zip(field_on_grid(fields, centres, side), item["chosen"])])

    def _fuse(self, fields, item):
        """The majority of the warped atlas masks: on the work grid, then at full resolution
        in the band where the atlases disagree or the fused mask changes."""
        side, (top, left, height, width), classes = item["side"], item["box"], len(self.values)
        per_atlas = self._work_votes(fields, item)
        work = _majority(per_atlas, classes)
        unsure = (per_atlas != work[None]).any(axis=0)
        unsure |= grow(work != np.roll(work, 1, 0)) | grow(work != np.roll(work, 1, 1))
        unsure = grow(unsure) if self.band else np.ones_like(unsure)
        if side == WORK:
            labels = work
        else:
            # Full resolution: the work labels by nearest, then the band done again.
            to_work = nearest_index(WORK, side)
            labels = work[np.ix_(to_work, to_work)]
            band = unsure[np.ix_(to_work, to_work)]
            band_rows, band_columns = np.nonzero(band)
            if band_rows.size:
                votes = []
                for field, atlas in zip(fields, item["chosen"]):
                    at = field_at(field, band_rows, band_columns, side)
                    votes.append(vote_labels(self.atlases.index[atlas],
                                              (band_rows + at[:, 0] + 0.5) * WORK / side - 0.5,
                                              (band_columns + at[:, 1] + 0.5) * WORK / side - 0.5, classes))
                labels[band_rows, band_columns] = _majority(np.stack(votes), classes)
        band_fraction = float(unsure.mean())
        if "gate_fields" in item:  # judged on the first round's fields (AlignedStart)
            gate = self._work_votes(item["gate_fields"], item)
            agreement = atlas_agreement(gate, _majority(gate, classes), classes)
        else:
            agreement = atlas_agreement(per_atlas, work, classes)
        return labels[top:top + height, left:left + width], work, band_fraction, agreement

    def _score(self, prepared, results):
        """RCA: each image with its work-grid mask registered onto its most similar references."""
        references = self.references
        chosen = [item["references"] for item in prepared]
        grid = np.arange(WORK, dtype=np.float32)
        rows, columns = np.meshgrid(grid, grid, indexing="ij")
        classes = len(self.values)
        foreground = [c for c in range(classes) if self.values[c] != 0]
        lungs, heart = ([int(np.searchsorted(self.values, v)) for v in group] for group in chexmask_groups(self.values))

        def dice(confusion, group):
            """Dice of the classes of ``group`` taken as one, from a confusion matrix."""
            overlap = confusion[np.ix_(group, group)].sum()
            total = confusion[group].sum() + confusion[:, group].sum()
            return float(2.0 * overlap / total) if total else 1.0

        for item, result, picks in zip(prepared, results, chosen):
            best, best_per_class, best_name = -1.0, None, None
            chexmask = []
            grid_fields = field_on_grid(item["reference_fields"], grid, WORK)
            for offset, reference in enumerate(picks):
                at = grid_fields[offset]
                warped = vote_labels(item["work_labels"], rows + at[..., 0], columns + at[..., 1], classes)
                # confusion[a, b]: pixels of class a in the warped mask and b in the reference's truth.
                confusion = np.bincount(warped.ravel().astype(np.intp) * classes + self._reference_truth[reference],
                                        minlength=classes * classes).reshape(classes, classes)
                per_class = {str(self.values[c]): dice(confusion, [c]) for c in foreground}
                mean = float(np.mean(list(per_class.values())))
                groups = [dice(confusion, group) for group in (lungs, heart) if group]
                chexmask.append(float(np.mean(groups)))
                if mean > best:
                    best, best_per_class, best_name = mean, per_class, references.names[reference]
            result.estimated_dice, result.dice_per_class, result.best_reference = best, best_per_class, best_name
            result.rca_mean, result.rca_max = float(np.mean(chexmask)), float(np.max(chexmask))
