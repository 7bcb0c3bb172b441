"""Model files: how trained networks are stored and loaded.

A trained network is a Keras weights file (``*.weights.h5``, HDF5, written by
``Model.save_weights``) next to ``model.json``, which names the architecture and
its arguments. Loading rebuilds the architecture from that description and reads
the weights into it; nothing in a model file is executed, so a model from an
untrusted source cannot run code.

Run directory of ``train-reg``::

    run/config.toml            resolved settings
    run/log.csv                loss terms over iterations
    run/checkpoints/           tf.train checkpoints (model, optimizer, sampler state)
    run/model.json             architecture description
    run/vector_cnn.weights.h5  final weights

Run directory of ``train-ae``: the same with ``encoder.weights.h5`` and
``decoder.weights.h5``.
"""

import json
from pathlib import Path

from acregnet_cli.errors import InputError
from acregnet_cli.io.atomic import atomic_path, write_json_atomic, write_text_atomic

MODEL_JSON = "model.json"
# What a registration takes when no model is named.
DEFAULT_MODEL = "jsrt"
FORMAT_VERSION = 1


def toml_text(settings):
    """Render a flat mapping of scalars, strings and lists as TOML."""
    lines = []
    for key, value in settings.items():
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def write_settings(run_dir, settings):
    """Write the resolved settings of a run as ``config.toml``."""
    write_text_atomic(Path(run_dir) / "config.toml", toml_text(settings))


def save_weights_atomic(model, path):
    """``model.save_weights`` through a temporary file renamed into place."""
    with atomic_path(path) as tmp:
        model.save_weights(str(tmp))


def write_model_json(run_dir, description):
    """Write ``model.json``: architecture name, its arguments and weight files."""
    write_json_atomic(Path(run_dir) / MODEL_JSON, dict(description, format_version=FORMAT_VERSION))


def bundled_models():
    """Names of the models shipped with the package (``jsrt``, ``jsrt-ae``, ...)."""
    from acregnet_cli.resources import data_dir

    try:
        root = data_dir() / "models"
    except FileNotFoundError:
        return []
    return sorted(p.name for p in root.iterdir() if (p / MODEL_JSON).is_file()) if root.is_dir() else []


def _holds_model(path):
    json_path = path / MODEL_JSON if path.is_dir() else path.parent / MODEL_JSON
    return path.exists() and json_path.is_file()


def resolve_model(name_or_path=None):
    """Where the model called ``name_or_path`` lives: a path, or a bundled model's folder.

    A bundled name written bare (``jsrt``, ``montgomery-ae``, ...) is the bundled model,
    whatever lies in the working directory: a folder there of that name, model or not,
    is taken only when written as a path (``./jsrt``), so that a stray folder never
    replaces the model a script names. Any other path that holds a model (a run
    directory, a model folder, or a weights file with ``model.json`` beside it) is taken
    as it is. None is the default model, bundled ``jsrt``.

    Returns
    -------
    Path

    Raises
    ------
    InputError
        If neither a model path nor a bundled name.

    Examples
    --------
    >>> resolve_model("jsrt").name
    'jsrt'
    """
    from acregnet_cli.resources import data_dir

    if name_or_path is None:
        name_or_path = DEFAULT_MODEL
    path = Path(name_or_path).expanduser()
    if isinstance(name_or_path, str) and name_or_path in bundled_models():
        return data_dir() / "models" / name_or_path
    if _holds_model(path):
        return path
    if path.exists():
        raise InputError(f"{path}: no {MODEL_JSON} beside the model (not a run directory of acregnet, "
                         f"nor a bundled model: {', '.join(bundled_models()) or 'none installed'})")
    raise InputError(f"{name_or_path}: model not found (not a run directory, weights file or bundled model: "
                     f"{', '.join(bundled_models()) or 'none installed'})")


def read_model_json(path):
    """Find and parse ``model.json`` for a run directory, a weights file or a bundled name."""
    path = resolve_model(path)
    json_path = path / MODEL_JSON if path.is_dir() else path.parent / MODEL_JSON
    try:
        description = json.loads(json_path.read_text())
    except (ValueError, OSError) as exc:
        raise InputError(f"{json_path}: unreadable model description ({exc})") from None
    if not isinstance(description, dict) or "architecture" not in description:
        raise InputError(f"{json_path}: model description lacks 'architecture'")
    check_description(description, json_path)
    return json_path.parent, description


# Every field of model.json that changes what is built: (type, low, high) or choices.
# A model file is untrusted input: a size of 200000 would allocate hundreds of GiB.
_FIELDS = {
    "size": (int, 8, 1024),
    "dropout": (float, 0.0, 0.999),
    "integration_steps": (int, 0, 64),
    # The passes the model is meant to be used with when the caller names none.
    "passes": (int, 1, 16),
    "num_classes": (int, 2, 64),
    "code_size": (int, 1, 4096),
    "format_version": (int, 1, FORMAT_VERSION),
}
_CHOICES = {"architecture": ("vector_cnn", "mask_autoencoder"), "resize": ("modern", "legacy")}
_FILES = ("weights", "encoder_weights", "decoder_weights")


def check_description(description, source):
    """Refuse a ``model.json`` whose fields are of the wrong type, out of range, unknown
    choices or weight file names that leave the model's folder; the error names the file
    and the field."""
    for key, (kind, low, high) in _FIELDS.items():
        if key not in description:
            continue
        value = description[key]
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int) \
                or not low <= value <= high:
            raise InputError(f"{source}: {key} must be {'a number' if kind is float else 'an integer'} from "
                             f"{low} to {high}, got {value!r}")
    for key, choices in _CHOICES.items():
        if key in description and description[key] not in choices:
            raise InputError(f"{source}: {key} must be one of {', '.join(choices)}, got {description[key]!r}")
    for key in _FILES:
        if key in description:
            name = description[key]
            if not isinstance(name, str) or not name or Path(name).name != name or name in (".", ".."):
                raise InputError(f"{source}: {key} must be a file name beside model.json, got {name!r}")
    if description["architecture"] == "mask_autoencoder":
        missing = [key for key in ("size", "num_classes", "code_size") if key not in description]
        if missing:
            raise InputError(f"{source}: an autoencoder's description lacks {', '.join(missing)}")


def load_weights_into(model, path):
    """Load a weights file into a built model; a clear InputError if it does not fit or
    holds NaN or infinite values."""
    import numpy as np

    try:
        model.load_weights(str(path))
    except FileNotFoundError:
        raise InputError(f"{path}: weights file not found") from None
    except Exception as exc:  # h5py and Keras raise many types for bad files
        raise InputError(f"{path}: weights do not fit the {model.name} architecture or the file is corrupt ({exc})") from None
    bad = [weight.path for weight in model.weights if not np.all(np.isfinite(weight.numpy()))]
    if bad:
        raise InputError(f"{path}: weights hold NaN or infinite values ({bad[0]})")


def vector_cnn_weights(path):
    """The weights file and ``model.json`` description of a registration network.

    Parameters
    ----------
    path : path-like
        A ``train-reg`` run directory, a bundled model folder, or a weights file
        with ``model.json`` beside it.

    Returns
    -------
    weights : Path
    description : dict
    """
    path = resolve_model(path)
    run_dir, description = read_model_json(path)
    if description["architecture"] != "vector_cnn":
        raise InputError(f"{path}: is a {description['architecture']} model, not a registration network")
    weights = path if path.is_file() else run_dir / description.get("weights", "vector_cnn.weights.h5")
    if not weights.exists():
        raise InputError(f"{weights}: weights file not found")
    return weights, description


def integration_steps(description, source):
    """The ``integration_steps`` of a VectorCNN description or training settings (0 when
    absent: a displacement network); an InputError naming ``source`` if out of range."""
    steps = description.get("integration_steps", 0)
    if isinstance(steps, bool) or not isinstance(steps, int) or not 0 <= steps <= 64:
        raise InputError(f"{source}: integration_steps must be an integer from 0 to 64, got {steps!r}")
    return steps


def load_vector_cnn(path, size=None):
    """Load a trained VectorCNN from a run directory or its weights file.

    Returns
    -------
    model : keras.Model
    description : dict
        Contents of ``model.json`` (``size``, ``resize``, ...).
    """
    from acregnet_cli.tf.networks import vector_cnn

    weights, description = vector_cnn_weights(path)
    model = vector_cnn(size=size or description.get("size", 64), dropout=description.get("dropout", 0.5),
                       integration_steps=integration_steps(description, path))
    load_weights_into(model, weights)
    return model, description


def load_vector_cnn_lite(path):
    """Load a trained VectorCNN for NumPy inference (:mod:`acregnet_cli.np.vector_cnn`), without TensorFlow.

    Returns
    -------
    model : lite.LiteVectorCNN
    description : dict
    """
    from acregnet_cli.np.vector_cnn import LiteVectorCNN

    weights, description = vector_cnn_weights(path)
    steps = integration_steps(description, path)
    try:
        return LiteVectorCNN.from_weights(weights, integration_steps=steps), description
    except Exception as exc:  # h5py raises OSError, KeyError, ... for foreign or broken files
        raise InputError(f"{weights}: weights do not fit the VectorCNN architecture or the file is corrupt ({exc})") from None


def load_autoencoder(path):
    """Load a trained mask autoencoder from a ``train-ae`` run directory.

    Returns
    -------
    encoder, decoder : keras.Model
    description : dict
    """
    from acregnet_cli.tf.networks import mask_autoencoder

    run_dir, description = read_model_json(path)
    if description["architecture"] != "mask_autoencoder":
        raise InputError(f"{path}: is a {description['architecture']} model, not a mask autoencoder")
    encoder, decoder, _ = mask_autoencoder(
        size=description["size"], num_classes=description["num_classes"], code_size=description["code_size"]
    )
    load_weights_into(encoder, run_dir / description.get("encoder_weights", "encoder.weights.h5"))
    load_weights_into(decoder, run_dir / description.get("decoder_weights", "decoder.weights.h5"))
    return encoder, decoder, description
