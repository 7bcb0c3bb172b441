"""Atlases and references as the corpus pipeline holds them: brought once to a 256x256
square (padded, resized; masks by nearest label), kept as network inputs, NCC vectors and
class indices (:mod:`acregnet_cli.applications.corpus`)."""

import dataclasses

import numpy as np

from acregnet_cli.errors import InputError
from acregnet_cli.fields import crop as cut
from acregnet_cli.fields import pad_to_square

WORK = 256


def resize_square(square, size):
    """Bilinear resize of a square float image as the registrar resizes (half-pixel centres)."""
    from acregnet_cli.np.ops import resize_images

    return resize_images(np.asarray(square, np.float32)[None, ..., None], size, "modern")[0, ..., 0]


def nearest_index(side, size):
    """For each pixel of a ``size`` grid, the pixel of a ``side`` grid holding its centre."""
    return np.clip(np.floor((np.arange(size) + 0.5) * side / size).astype(np.intp), 0, side - 1)


def nearest_square(labels, size):
    """A square label map resampled to ``size`` by the nearest pixel centre."""
    index = nearest_index(labels.shape[0], size)
    return labels[np.ix_(index, index)]


def ncc_vector(image):
    image = np.asarray(image, np.float64)
    return ((image - image.mean()) / (image.std() + 1e-8)).ravel()


def framed_ncc_vector(image, size=64):
    """``ncc_vector`` of an image cut to its field of view (edge bands off), padded to a
    square and brought to ``size``: the dot product of two, over ``size**2``, is their
    global NCC as the network would see them.

    Examples
    --------
    >>> image = np.pad(np.outer(np.hanning(50), np.hanning(40)), 10)
    >>> a, b = framed_ncc_vector(image), framed_ncc_vector(image[::-1])
    >>> round(float(a @ b / a.size), 3)
    1.0
    """
    from acregnet_cli.io.intensity import field_of_view

    image = np.asarray(image, np.float32)
    return ncc_vector(resize_square(pad_to_square(cut(image, field_of_view(image)))[0], size))


@dataclasses.dataclass
class Library:
    """Atlases or references at the work grid: network inputs, NCC vectors, class indices."""

    names: list
    small: np.ndarray      # (N, S, S) network inputs
    vectors: np.ndarray    # (N, S*S) normalised for NCC
    index: np.ndarray      # (N, WORK, WORK) uint8 class indices into ``values``
    values: np.ndarray

    @classmethod
    def from_atlases(cls, atlases, size, values=None, crop=None):
        """From an :class:`~acregnet_cli.applications.segmentation.AtlasSet` (any image sizes).

        ``crop``, a function of an image giving (top, left, height, width), cuts each
        atlas to that box first, so that atlases are framed as the images they meet.
        """
        values = np.asarray(atlases.values if values is None else values)
        small, index = [], []
        for image, labels in zip(atlases.images, atlases.labels):
            image, labels = np.asarray(image, np.float32), np.asarray(labels)
            if crop is not None:
                box = crop(image)
                image, labels = cut(image, box), cut(labels, box)
            square, _ = pad_to_square(image)
            small.append(resize_square(square, size))
            label_square, _ = pad_to_square(labels)
            unknown = np.setdiff1d(np.unique(label_square), values)
            if unknown.size:
                raise InputError(f"atlas labels {unknown.tolist()} are not among {values.tolist()}")
            index.append(np.searchsorted(values, nearest_square(label_square, WORK)).astype(np.uint8))
        small = np.stack(small)
        return cls(list(atlases.names), small, np.stack([ncc_vector(s) for s in small]), np.stack(index), values)

    def rank(self, vector, count):
        """Indices of the ``count`` entries most correlated with ``vector``, and their NCC."""
        scores = self.vectors @ vector / vector.size
        order = np.argsort(-scores, kind="stable")[:count]
        return order, scores[order]


def atlas_agreement(per_atlas, fused, classes):
    """Mean over atlases and foreground classes of the Dice of each warped atlas mask with
    the fused one (class indices; class 0 is the background): near 1 where the atlases
    land alike, as on a chest radiograph; low where each fits the image its own way.

    Examples
    --------
    >>> fused = np.array([[0, 1], [1, 1]])
    >>> atlas_agreement([fused, np.array([[1, 1], [1, 1]])], fused, 2)
    0.928...
    """
    scores = []
    for votes in per_atlas:
        for c in range(1, classes):
            mine, theirs = votes == c, fused == c
            total = mine.sum() + theirs.sum()
            if total:
                scores.append(2.0 * (mine & theirs).sum() / total)
    return float(np.mean(scores)) if scores else None
