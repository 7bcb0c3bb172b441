"""Datasets in the authors' layout: split lists, images and label maps in memory.

A dataset is described by a TOML file (see :mod:`acregnet_cli.datasets.config`);
its split lists ``split/{fold}_{kind}_{size}.txt`` name files relative to the
data root, one per line, images and labels in the same order.
"""

import dataclasses
from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError
from acregnet_cli.io.images import read_image, read_label_map


@dataclasses.dataclass
class Split:
    """Images and label maps of one fold, held in memory.

    Attributes
    ----------
    names : list of str
        Image file stems, in the order of the split list.
    images : ndarray, float32, (N, H, W), values in [0, 1]
    labels : ndarray, int32, (N, H, W), consecutive class indices (0 = background)
    image_paths, label_paths : list of Path
    """

    names: list
    images: np.ndarray
    labels: np.ndarray
    image_paths: list
    label_paths: list

    def __len__(self):
        return len(self.names)

    def subset(self, indices):
        """A new Split with the items at ``indices``."""
        indices = list(indices)
        return Split(
            names=[self.names[i] for i in indices],
            images=self.images[indices],
            labels=self.labels[indices],
            image_paths=[self.image_paths[i] for i in indices],
            label_paths=[self.label_paths[i] for i in indices],
        )


def relabel(label_map, label_values, source="mask"):
    """Map stored label values to consecutive class indices.

    Parameters
    ----------
    label_map : ndarray of int
    label_values : sequence of int
        Stored value of each class; class ``k`` is stored as ``label_values[k]``.
    source : str
        Name used in the error message.

    Raises
    ------
    InputError
        If the map holds a value not in ``label_values``.
    """
    label_map = np.asarray(label_map)
    values = np.asarray(label_values)
    present = np.unique(label_map)
    unknown = np.setdiff1d(present, values)
    if unknown.size:
        raise InputError(
            f"{source}: label value(s) {unknown.tolist()} not in the dataset's labels {values.tolist()}"
        )
    lookup = np.zeros(int(max(values.max(), present.max())) + 1, dtype=np.int32)
    lookup[values] = np.arange(len(values), dtype=np.int32)
    return lookup[label_map]


def split_list_path(config, root, fold, kind, size):
    """Path of a split list file, e.g. ``data/JSRT/split/train_images_64.txt``."""
    return Path(root) / config.directory / config.split.format(fold=fold, kind=kind, size=size)


def available_folds(config, root, size):
    """The folds whose image split lists exist for ``size`` (e.g. ['test', 'train'])."""
    import re

    pattern = split_list_path(config, root, "FOLD", "images", size)
    expression = re.compile("^" + re.escape(pattern.name).replace("FOLD", "(.+)") + "$")
    if not pattern.parent.is_dir():
        return []
    return sorted(match.group(1) for path in pattern.parent.iterdir() if (match := expression.match(path.name)))


def read_split_list(path, root):
    """Read a split list; entries are resolved relative to the data root."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: split list not found")
    entries = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not entries:
        raise InputError(f"{path}: split list is empty")
    return [Path(root) / entry for entry in entries]


def load_split(config, root, fold="train", size=64):
    """Load one fold of a dataset into memory.

    Parameters
    ----------
    config : DatasetConfig
    root : Path
        Data root holding ``config.directory``.
    fold : {'train', 'test'}
    size : int
        64 or 256 in the authors' data.

    Returns
    -------
    Split
    """
    list_path = split_list_path(config, root, fold, "images", size)
    if not list_path.exists():
        folds = available_folds(config, root, size)
        if folds and fold not in folds:
            raise InputError(f"{config.name}: no fold {fold!r} (split list {list_path} not found); "
                             f"the folds are {', '.join(folds)}")
    image_paths = read_split_list(list_path, root)
    label_paths = read_split_list(split_list_path(config, root, fold, "labels", size), root)
    if len(image_paths) != len(label_paths):
        raise InputError(
            f"{config.name} {fold} split: {len(image_paths)} images but {len(label_paths)} label files"
        )
    images, labels = [], []
    for image_path, label_path in zip(image_paths, label_paths):
        # The authors' images as they trained on them: 8-bit values over 255.
        image, _ = read_image(image_path, intensity="dtype")
        label_map = relabel(read_label_map(label_path), config.label_values, str(label_path))
        if image.shape != (size, size) or label_map.shape != (size, size):
            raise InputError(
                f"{image_path}: expected {size}x{size} image and mask, got {image.shape} and {label_map.shape}"
            )
        images.append(image)
        labels.append(label_map)
    return Split(
        names=[p.stem for p in image_paths],
        images=np.stack(images).astype(np.float32),
        labels=np.stack(labels).astype(np.int32),
        image_paths=image_paths,
        label_paths=label_paths,
    )


def carve_validation(split, fraction, seed=0):
    """Split a training fold into (train, validation) with a seeded permutation.

    Parameters
    ----------
    split : Split
    fraction : float
        Share of the items held out, in [0, 1). 0 returns ``(split, None)``.
    seed : int
    """
    if fraction <= 0:
        return split, None
    if not 0 < fraction < 1:
        raise InputError(f"validation fraction must be in [0, 1), got {fraction}")
    order = np.random.RandomState(seed).permutation(len(split))
    held = max(1, int(round(fraction * len(split))))
    return split.subset(sorted(order[held:])), split.subset(sorted(order[:held]))
