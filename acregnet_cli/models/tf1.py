"""Import checkpoints of the original TensorFlow 1 release.

The original release saved its networks with ``tf.train.Saver``: the VectorCNN
under the scope ``VectorCNN/`` and the mask autoencoder under ``CNN_AE/``. Each
convolution ``L`` holds ``L/weights`` (HWIO) and either a batch norm
``L/bn/{gamma,beta,moving_mean,moving_variance}`` or a bias ``L/biases``; dense
layers hold ``L/kernel`` and ``L/bias``. TensorFlow 2 reads these files with
``tf.train.load_checkpoint``; this module checks every variable's name and shape
against this project's architectures and writes an ordinary model folder.
"""

from pathlib import Path

import numpy as np

from acregnet_cli import runtime
from acregnet_cli.architecture import VECTOR_CNN_LAYERS
from acregnet_cli.errors import InputError
from acregnet_cli.models.files import save_weights_atomic, write_model_json

BN_PARTS = ("gamma", "beta", "moving_mean", "moving_variance")
# Optimizer and bookkeeping variables a training checkpoint may also hold.
_IGNORED_SUFFIXES = ("/Adam", "/Adam_1")
_IGNORED_NAMES = ("beta1_power", "beta2_power", "global_step")

AUTOENCODER_CONVS = ("conv1_a", "conv1_b", "conv2_a", "conv2_b", "conv3",
                     "deconv4", "conv4", "deconv5", "conv5", "deconv6")


def read_checkpoint(prefix):
    """Read every variable of a TF1 checkpoint into a dict of NumPy arrays.

    Parameters
    ----------
    prefix : str or Path
        Checkpoint prefix, e.g. ``.../model.ckpt`` (with ``model.ckpt.index`` and
        ``model.ckpt.data-*`` beside it). A folder holding ``model.ckpt.index`` is
        accepted too.
    """
    import tensorflow as tf

    prefix = Path(prefix)
    if prefix.is_dir() and (prefix / "model.ckpt.index").exists():
        prefix = prefix / "model.ckpt"
    index = Path(str(prefix) + ".index")
    if not index.exists():
        raise InputError(f"{prefix}: no checkpoint here ({index.name} not found); give the prefix, e.g. .../model.ckpt")
    if not list(prefix.parent.glob(prefix.name + ".data-*")):
        raise InputError(f"{prefix}: checkpoint data file ({prefix.name}.data-*) not found")
    try:
        reader = tf.train.load_checkpoint(str(prefix))
        return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    except Exception as exc:  # corrupt files raise DataLossError, OpError, ...
        raise InputError(f"{prefix}: unreadable checkpoint ({exc.__class__.__name__}: {str(exc).splitlines()[0]})") from None


def _vector_cnn_expected():
    expected = {}
    for name, _ in VECTOR_CNN_LAYERS:
        expected[f"VectorCNN/{name}/weights"] = (name, "kernel")
        for part in BN_PARTS:
            expected[f"VectorCNN/{name}/bn/{part}"] = (f"{name}_bn", part)
    return expected


def _autoencoder_expected():
    expected = {}
    for name in AUTOENCODER_CONVS:
        expected[f"CNN_AE/{name}/weights"] = (name, "kernel")
        for part in BN_PARTS:
            expected[f"CNN_AE/{name}/bn/{part}"] = (f"{name}_bn", part)
    expected["CNN_AE/conv_out/weights"] = ("conv_out", "kernel")
    expected["CNN_AE/conv_out/biases"] = ("conv_out", "bias")
    for name in ("fc1", "fc2"):
        expected[f"CNN_AE/{name}/kernel"] = (name, "kernel")
        expected[f"CNN_AE/{name}/bias"] = (name, "bias")
    return expected


def _is_ignored(name):
    return name.endswith(_IGNORED_SUFFIXES) or name in _IGNORED_NAMES


def _keras_variable(models, layer_name, attribute):
    for model in models:
        try:
            layer = model.get_layer(layer_name)
        except ValueError:
            continue
        return getattr(layer, attribute)
    raise KeyError(layer_name)


def assign_checkpoint(variables, models, expected, scope, source):
    """Copy checkpoint arrays into Keras models after checking names and shapes.

    Raises
    ------
    InputError
        Listing every missing, extra and mismatched variable at once.
    """
    in_scope = {k: v for k, v in variables.items() if k.startswith(scope + "/") and not _is_ignored(k)}
    missing = sorted(set(expected) - set(in_scope))
    extra = sorted(set(in_scope) - set(expected))
    mismatched = []
    for name, (layer_name, attribute) in expected.items():
        if name in in_scope:
            target = _keras_variable(models, layer_name, attribute)
            if tuple(target.shape) != tuple(in_scope[name].shape):
                mismatched.append(f"{name}: checkpoint {list(in_scope[name].shape)}, model {list(target.shape)}")
    problems = []
    if missing:
        problems.append("missing: " + ", ".join(missing))
    if extra:
        problems.append("unexpected: " + ", ".join(extra))
    if mismatched:
        problems.append("shape mismatch: " + "; ".join(mismatched))
    if problems:
        raise InputError(f"{source}: checkpoint does not match the {scope} architecture ({' | '.join(problems)})")
    for name, (layer_name, attribute) in expected.items():
        _keras_variable(models, layer_name, attribute).assign(np.asarray(in_scope[name], dtype=np.float32))
    return sorted(in_scope)


def import_tf1(prefix, output, overwrite=False):
    """Convert an original checkpoint (VectorCNN or CNN_AE) into a model folder.

    Parameters
    ----------
    prefix : str or Path
        Checkpoint prefix.
    output : str or Path
        Folder to write ``model.json`` and the weights into.
    overwrite : bool

    Returns
    -------
    dict : what was imported (architecture, variables, output).
    """
    runtime.import_tensorflow()
    from acregnet_cli.tf.networks import mask_autoencoder, vector_cnn

    variables = read_checkpoint(prefix)
    output = Path(output)
    if (output / "model.json").exists() and not overwrite:
        raise InputError(f"{output}: holds a model already (use --overwrite to replace it)")
    scopes = {name.split("/")[0] for name in variables if not _is_ignored(name)}
    if "VectorCNN" in scopes:
        model = vector_cnn(size=64, dropout=0.5)
        names = assign_checkpoint(variables, [model], _vector_cnn_expected(), "VectorCNN", prefix)
        output.mkdir(parents=True, exist_ok=True)
        save_weights_atomic(model, output / "vector_cnn.weights.h5")
        description = dict(architecture="vector_cnn", size=64, dropout=0.5, resize="legacy",
                           weights="vector_cnn.weights.h5", imported_from=str(prefix))
    elif "CNN_AE" in scopes:
        fc1 = variables.get("CNN_AE/fc1/kernel")
        out_conv = variables.get("CNN_AE/conv_out/weights")
        if fc1 is None or out_conv is None:
            raise InputError(f"{prefix}: CNN_AE checkpoint lacks fc1/kernel or conv_out/weights")
        low = int(round(np.sqrt(fc1.shape[0])))
        size, code_size, num_classes = 8 * low, int(fc1.shape[1]), int(out_conv.shape[-1])
        encoder, decoder, _ = mask_autoencoder(size, num_classes, code_size)
        names = assign_checkpoint(variables, [encoder, decoder], _autoencoder_expected(), "CNN_AE", prefix)
        output.mkdir(parents=True, exist_ok=True)
        save_weights_atomic(encoder, output / "encoder.weights.h5")
        save_weights_atomic(decoder, output / "decoder.weights.h5")
        description = dict(architecture="mask_autoencoder", size=size, num_classes=num_classes,
                           code_size=code_size, encoder_weights="encoder.weights.h5",
                           decoder_weights="decoder.weights.h5", imported_from=str(prefix))
    else:
        raise InputError(f"{prefix}: no VectorCNN/ or CNN_AE/ variables (found scopes: {', '.join(sorted(scopes))})")
    write_model_json(output, description)
    return dict(architecture=description["architecture"], variables=len(names), output=str(output))
