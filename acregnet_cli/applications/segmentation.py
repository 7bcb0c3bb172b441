"""Multi-atlas segmentation with a registration model (the paper's Section 5.3).

For each target image: rank the atlases by global normalized cross-correlation
with it (at 64x64), register the ``k`` most similar onto the target in one batch,
warp their masks (one-hot, bilinear) and fuse them:

- ``majority``: each atlas votes for the arg-max class at each pixel (the paper);
- ``weighted``: each atlas's warped class probabilities are weighted, per pixel,
  by the local normalized cross-correlation between its warped image and the
  target in a ``window`` x ``window`` neighbourhood (negative correlation gives
  no weight), so atlases that align well locally count more.
"""

import dataclasses
import time
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage.transform import resize

from acregnet_cli.applications.library import atlas_agreement
from acregnet_cli.errors import InputError
from acregnet_cli.io.images import read_image, read_label_map
from acregnet_cli.options import FUSIONS


@dataclasses.dataclass
class AtlasSet:
    """Atlas images (float, [0, 1]) and label maps with their names."""

    names: list
    images: list
    labels: list

    def __post_init__(self):
        if not self.names:
            raise InputError("no atlases given")
        self.values = np.unique(np.concatenate([np.unique(label) for label in self.labels]))
        self._small = np.stack([_normalised(resize(image, (64, 64), order=1, anti_aliasing=True))
                                for image in self.images])

    def rank(self, target):
        """Atlas indices by decreasing global NCC with ``target``, and the NCC values."""
        small = _normalised(resize(target, (64, 64), order=1, anti_aliasing=True))
        scores = (self._small * small[None]).mean(axis=(1, 2))
        order = np.argsort(-scores, kind="stable")
        return order, scores[order]

    def framed(self):
        """The atlases cut to their fields of view (uniform edge bands off), as images are
        under ``framing='field-of-view'``."""
        from acregnet_cli.fields import crop
        from acregnet_cli.io.intensity import field_of_view

        boxes = [field_of_view(image) for image in self.images]
        return AtlasSet(list(self.names), [crop(image, box) for image, box in zip(self.images, boxes)],
                        [crop(label, box) for label, box in zip(self.labels, boxes)])

    def onehot(self, index):
        """One-hot (H, W, K) mask of atlas ``index`` over the set's label values."""
        lookup = np.searchsorted(self.values, self.labels[index])
        return np.eye(len(self.values), dtype=np.float32)[lookup]


def _normalised(image):
    image = np.asarray(image, dtype=np.float64)
    return (image - image.mean()) / (image.std() + 1e-8)


def load_atlas_folder(folder):
    """Atlases from ``folder/images/*.png`` with ``folder/labels/<same name>``."""
    folder = Path(folder)
    images_dir, labels_dir = folder / "images", folder / "labels"
    if not images_dir.is_dir() or not labels_dir.is_dir():
        raise InputError(f"{folder}: an atlas folder needs images/ and labels/ sub-folders with the same file names")
    names, images, labels = [], [], []
    for image_path in sorted(p for p in images_dir.iterdir() if p.is_file()):
        label_path = labels_dir / image_path.name
        if not label_path.exists():
            raise InputError(f"{image_path}: no atlas mask {label_path}")
        image, _ = read_image(image_path)
        label = read_label_map(label_path)
        if label.shape != image.shape:
            raise InputError(f"{label_path}: mask {label.shape} differs from its image {image.shape}")
        names.append(image_path.stem)
        images.append(image)
        labels.append(label)
    return AtlasSet(names, images, labels)


def local_ncc(a, b, window=9):
    """Local normalized cross-correlation of two images in square windows."""
    mean_a = ndimage.uniform_filter(a, window)
    mean_b = ndimage.uniform_filter(b, window)
    cov = ndimage.uniform_filter(a * b, window) - mean_a * mean_b
    var_a = ndimage.uniform_filter(a * a, window) - mean_a ** 2
    var_b = ndimage.uniform_filter(b * b, window) - mean_b ** 2
    return cov / np.sqrt(np.maximum(var_a, 1e-8) * np.maximum(var_b, 1e-8))


def fuse(warped_onehots, warped_images, target, fusion="majority", window=9):
    """Fuse warped atlas masks into class indices (into the atlas set's values).

    Parameters
    ----------
    warped_onehots : list of ndarray (H, W, K)
    warped_images : list of ndarray (H, W)
    target : ndarray (H, W)
    fusion : {'majority', 'weighted'}
    """
    if fusion == "majority":
        classes = warped_onehots[0].shape[-1]
        votes = sum(np.eye(classes, dtype=np.float32)[np.argmax(p, axis=-1)] for p in warped_onehots)
        return np.argmax(votes, axis=-1)
    if fusion == "weighted":
        total = 0.0
        for probabilities, image in zip(warped_onehots, warped_images):
            weight = np.clip(local_ncc(image.astype(np.float64), target.astype(np.float64), window), 0, None)
            total = total + probabilities * (weight[..., None] ** 2 + 1e-6)
        return np.argmax(total, axis=-1)
    raise InputError(f"unknown fusion {fusion!r}: choose one of {', '.join(FUSIONS)}")


def segment(target, atlases, registrar, k=5, fusion="majority", framing="none"):
    """Segment one target image with the ``k`` most similar atlases.

    With ``framing='field-of-view'`` the target is cut to its field of view first
    (:func:`acregnet_cli.io.intensity.field_of_view`) and its mask put back into the
    whole frame, background outside (give atlases cut alike: :meth:`AtlasSet.framed`).
    ``framing='align'`` cuts it so too, and where the atlases' fields agree on a global
    affine map far from the identity the target is resampled into their frame and the
    atlases registered again, as ``corpus`` does (:mod:`acregnet_cli.applications.alignment`).

    Returns
    -------
    labels : ndarray (H, W) with the atlases' label values
    info : dict (atlases used, their NCC, the atlases' agreement, seconds)
    """
    began = time.perf_counter()
    if framing in ("field-of-view", "align"):
        from acregnet_cli.fields import crop, uncrop
        from acregnet_cli.io.intensity import field_of_view

        box = field_of_view(target)
        cut = tuple(box[2:]) != target.shape
        labels, info = _segment(crop(target, box) if cut else target, atlases, registrar, k, fusion, framing == "align")
        info["seconds"] = time.perf_counter() - began
        return (uncrop(labels, box, target.shape) if cut else labels), info
    if framing != "none":
        raise InputError(f"segment framing must be align, field-of-view or none, got {framing!r}")
    labels, info = _segment(target, atlases, registrar, k, fusion, False)
    info["seconds"] = time.perf_counter() - began
    return labels, info


def _segment(target, atlases, registrar, k, fusion, align):
    k = min(k, len(atlases.names))
    order, scores = atlases.rank(target)
    chosen = order[:k]
    jobs = [(atlases.images[i], target, atlases.onehot(i), atlases.values) for i in chosen]
    prepared = [registrar.prepare(*job) for job in jobs]
    moving = np.stack([p["moving_small"] for p in prepared])
    fields = registrar.predict_small(moving, np.stack([p["fixed_small"] for p in prepared]))
    gate = None
    if align:
        from acregnet_cli.applications.alignment import align as align_rounds

        def warp(images, at):
            return np.asarray(registrar.ops.warp(np.asarray(images, np.float32), np.asarray(at, np.float32)),
                              np.float32)

        item = {"fields": fields, "small": prepared[0]["fixed_small"]}
        align_rounds([item], lambda items, key: [registrar.predict_small(moving, np.repeat(items[0][key][None], k, 0))],
                     warp, registrar.size)
        fields, gate = item["fields"], item.get("gate_fields")
    results = registrar.finish_many(prepared, fields)
    indices = fuse([r.warped_onehot for r in results], [r.warped for r in results], target, fusion)
    # Judged after the alignment's first round where more followed (they fit anything better).
    judged = results if gate is None else registrar.finish_many(prepared, gate)
    per_atlas = [np.argmax(r.warped_onehot, axis=-1) for r in judged]
    fused = indices if gate is None else fuse([r.warped_onehot for r in judged], [r.warped for r in judged], target)
    info = {"atlases": [atlases.names[i] for i in chosen], "ncc": [float(s) for s in scores[:k]],
            "agreement": atlas_agreement(per_atlas, fused, len(atlases.values)) if k > 1 else None}
    return atlases.values[indices], info


def load_dataset_fold(spec, data_dir=None, size=256):
    """Atlases or targets from ``DATASET:FOLD`` (e.g. ``jsrt:train``), with the stored label values."""
    from acregnet_cli.datasets.config import load_dataset_config, resolve_data_root
    from acregnet_cli.datasets.layout import load_split

    if ":" not in spec:
        raise InputError(f"{spec}: expected DATASET:FOLD, e.g. jsrt:train")
    name, fold = spec.rsplit(":", 1)
    config = load_dataset_config(name)
    split = load_split(config, resolve_data_root(data_dir), fold, size)
    values = np.asarray(config.label_values)
    return config, split.names, list(split.images), [values[label] for label in split.labels]


def save_overlay(path, image, labels, title=""):
    """Target image with the contours of each segmented structure."""
    from acregnet_cli.io.pictures import label_colour, label_legend
    from acregnet_cli.io.plotting import new_figure, save_figure

    figure = new_figure(4, 4.4)
    axis = figure.subplots()
    axis.imshow(image, cmap="gray", vmin=0, vmax=1)
    values = [v for v in np.unique(labels) if v != 0]
    for index, value in enumerate(values):
        axis.contour(labels == value, levels=[0.5], colors=[label_colour(index)], linewidths=0.8)
    axis.set_title(title, fontsize=8)
    axis.axis("off")
    figure.tight_layout(rect=(0, 0.06, 1, 1))
    label_legend(figure, values)
    save_figure(figure, path)


def load_atlases(spec, data_dir=None):
    """Atlases from a folder (images/ and labels/ with the same names) or a DATASET:FOLD.

    Returns
    -------
    atlases : AtlasSet
    config : DatasetConfig or None
        The dataset's configuration, for a DATASET:FOLD.
    """
    if Path(spec).is_dir():
        return load_atlas_folder(spec), None
    config, names, images, labels = load_dataset_fold(spec, data_dir)
    return AtlasSet(names, images, labels), config
