"""Configuration files: dataset descriptions and training settings, in TOML.

Configuration is data: files are parsed with :mod:`tomllib`, never executed, and
every key is checked against the expected names and types so that a typo fails
loudly instead of being ignored.
"""

import dataclasses
import math
import os
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from acregnet_cli.errors import InputError
from acregnet_cli.resources import config_dir

DATA_ENV = "ACREGNET_DATA"


MAX_TOML_BYTES = 1024 * 1024


def read_toml(path):
    """Parse a TOML file, raising :class:`InputError` naming the file on failure."""
    import stat

    path = Path(path)
    try:
        status = os.stat(path)
        # A settings file is a few hundred bytes: /dev/zero or a FIFO would be read forever.
        if not stat.S_ISREG(status.st_mode):
            raise InputError(f"{path}: configuration file is not a regular file")
        if status.st_size > MAX_TOML_BYTES:
            raise InputError(f"{path}: configuration file of {status.st_size} bytes; at most {MAX_TOML_BYTES}")
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise InputError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read configuration file ({exc.strerror})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from None


def _type_name(value):
    return type(value).__name__


def _check_value(source, key, value, expected):
    """Check one value against the type of its default; ints are accepted for floats."""
    if isinstance(expected, bool):
        ok = isinstance(value, bool)
    elif isinstance(expected, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if ok:
            value = float(value)
    elif isinstance(expected, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(expected, (list, tuple)):
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, type(expected))
    if not ok:
        raise InputError(
            f"{source}: key '{key}' must be {_type_name(expected)}, got {_type_name(value)} {value!r}"
        )
    return value


# The range of every numeric training setting: (low, high, low excluded, high excluded).
# Checked for the shipped defaults, a --config file and the command line alike, before
# TensorFlow starts, so that a typo fails in one line and leaves nothing behind.
SETTING_RANGES = {
    "iterations": (1, 10**8, False, False),
    "batch_size": (1, 4096, False, False),
    "learning_rate": (0.0, 1.0, False, False),  # 0 keeps the weights as they start (a frozen run)
    "final_lr_fraction": (0.0, 1.0, True, False),  # 0 would stop learning: the schedules divide by it
    "code_size": (1, 4096, False, False),
    "size": (8, 1024, False, False),
    "swap_probability": (0.0, 1.0, False, False),
    "augment_rotation": (0.0, 180.0, False, False),
    "augment_scale": (0.0, 0.9, False, False),
    "augment_shift": (0.0, 0.5, False, False),
    "checkpoint_every": (1, 10**8, False, False),
    "log_every": (1, 10**8, False, False),
    "seed": (0, 2**31 - 1, False, False),
    "validation_fraction": (0.0, 1.0, False, True),
    "lambda_r": (0.0, 1e6, False, False),
    "lambda_ce": (0.0, 1e6, False, False),
    "lambda_ae": (0.0, 1e6, False, False),
    "lambda_fold": (0.0, 1e6, False, False),
    "dropout": (0.0, 1.0, False, True),
    "integration_steps": (0, 64, False, False),
}


def _setting_choices():
    from acregnet_cli.options import CE_FORMS, LR_SCHEDULES

    return {"lr_schedule": LR_SCHEDULES, "ce_form": CE_FORMS}


def _check_range(source, key, value):
    where = f"--{key.replace('_', '-')}" if source == "command-line option" else f"{source}: {key}"
    if key in SETTING_RANGES:
        low, high, low_open, high_open = SETTING_RANGES[key]
        inside = math.isfinite(value) and (low < value if low_open else low <= value) and \
            (value < high if high_open else value <= high)
        if not inside:
            interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
            raise InputError(f"{where} must be in {interval}, got {value!r}")
    choices = _setting_choices().get(key)
    if choices is not None and value not in choices:
        raise InputError(f"{where} must be one of {', '.join(choices)}, got {value!r}")
    return value


def merge_settings(defaults, overrides, source):
    """Return ``defaults`` updated with ``overrides``, rejecting unknown keys, wrong types
    and values out of range (:data:`SETTING_RANGES`)."""
    merged = dict(defaults)
    unknown = sorted(set(overrides) - set(defaults))
    if unknown:
        raise InputError(
            f"{source}: unknown key(s) {', '.join(unknown)}; known keys: {', '.join(sorted(defaults))}"
        )
    for key, value in overrides.items():
        merged[key] = _check_range(source, key, _check_value(source, key, value, defaults[key]))
    return merged


def load_training_settings(kind, path=None, **overrides):
    """Training settings for ``kind`` ('train_ae' or 'train_reg').

    Defaults come from the shipped ``config/<kind>.toml``; a user file at ``path``
    and then keyword ``overrides`` (those not None) replace them key by key.
    """
    default_path = config_dir() / f"{kind}.toml"
    settings = read_toml(default_path)
    if path is not None:
        settings = merge_settings(settings, read_toml(path), str(path))
    given = {k: v for k, v in overrides.items() if v is not None}
    return merge_settings(settings, given, "command-line option")


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """How a dataset is laid out on disk and what its labels mean.

    Attributes
    ----------
    name : str
        Short name used on the command line.
    directory : str
        Location relative to the data root.
    label_values : tuple of int
        Values stored in the label images, background first; class ``k`` is
        stored as ``label_values[k]``.
    standard_pixels, standard_spacing_mm : float
        Width and pixel size of the standard-resolution image, from which the
        spacing at any size follows.
    """

    name: str
    directory: str
    sizes: tuple
    label_values: tuple
    class_names: tuple
    standard_pixels: int
    standard_spacing_mm: float
    distance_unit: str
    images: str
    labels: str
    split: str
    source: str = ""

    @property
    def num_classes(self):
        """Number of classes including background."""
        return len(self.label_values)

    def spacing(self, size):
        """Pixel spacing (mm, or original pixels) of a ``size`` x ``size`` image."""
        return self.standard_pixels * self.standard_spacing_mm / float(size)


_DATASET_DEFAULTS = {
    "name": "",
    "directory": "",
    "sizes": [64, 256],
    "label_values": [0, 1],
    "class_names": ["background", "foreground"],
    "standard_pixels": 256,
    "standard_spacing_mm": 1.0,
    "distance_unit": "mm",
    "layout": {},
}
_LAYOUT_DEFAULTS = {
    "images": "LR_{size}/images",
    "labels": "LR_{size}/labels",
    "split": "split/{fold}_{kind}_{size}.txt",
}


def available_datasets():
    """Names of the dataset configurations shipped with the project."""
    return sorted(p.stem for p in (config_dir() / "datasets").glob("*.toml"))


def load_dataset_config(name_or_path):
    """Load a dataset description by shipped name (``jsrt``) or by TOML file path."""
    candidate = Path(str(name_or_path))
    if candidate.suffix == ".toml" or candidate.exists():
        path = candidate
    else:
        path = config_dir() / "datasets" / f"{str(name_or_path).lower()}.toml"
        if not path.exists():
            raise InputError(
                f"unknown dataset '{name_or_path}': choose one of {', '.join(available_datasets())}"
                " or give the path of a dataset TOML file"
            )
    raw = read_toml(path)
    values = merge_settings(_DATASET_DEFAULTS, raw, str(path))
    layout = merge_settings(_LAYOUT_DEFAULTS, values.pop("layout"), f"{path} [layout]")
    for key in ("name", "directory"):
        if key not in raw:
            raise InputError(f"{path}: missing required key '{key}'")
    labels = values["label_values"]
    if len(labels) < 2 or len(set(labels)) != len(labels) or not all(isinstance(v, int) for v in labels):
        raise InputError(f"{path}: 'label_values' must list at least two distinct integers")
    if len(values["class_names"]) != len(labels):
        raise InputError(f"{path}: 'class_names' must have one name per label value")
    if values["standard_pixels"] <= 0 or values["standard_spacing_mm"] <= 0:
        raise InputError(f"{path}: standard_pixels and standard_spacing_mm must be positive")
    return DatasetConfig(
        name=values["name"],
        directory=values["directory"],
        sizes=tuple(values["sizes"]),
        label_values=tuple(labels),
        class_names=tuple(values["class_names"]),
        standard_pixels=values["standard_pixels"],
        standard_spacing_mm=float(values["standard_spacing_mm"]),
        distance_unit=values["distance_unit"],
        images=layout["images"],
        labels=layout["labels"],
        split=layout["split"],
        source=str(path),
    )


def resolve_data_root(data_dir=None):
    """The data root: ``data_dir`` if given, else ``$ACREGNET_DATA``."""
    root = data_dir or os.environ.get(DATA_ENV)
    if not root:
        raise InputError(f"no data root: pass --data-dir or set {DATA_ENV}")
    root = Path(root)
    if not root.is_dir():
        raise InputError(f"{root}: data root is not a directory")
    return root
