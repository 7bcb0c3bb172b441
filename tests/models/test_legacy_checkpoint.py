"""Import of the original TF1 checkpoints, and parity with the original computation."""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from acregnet_cli.cli import main
from acregnet_cli.errors import InputError
from acregnet_cli.models.files import load_autoencoder, load_vector_cnn
from acregnet_cli.models.tf1 import import_tf1, read_checkpoint
from acregnet_cli.tf.networks import mask_autoencoder

# Importing the original release's checkpoint is a one-off: in the full suite, not the quick one.
pytestmark = pytest.mark.slow

REFERENCE = Path(__file__).resolve().parents[3] / "shared" / "reference" / "tf1-jsrt-acregnet" / "model.ckpt"


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def save_tf1_checkpoint(prefix, variables):
    """Write a checkpoint with TF1-style variable names, as tf.compat.v1 Saver would."""
    names = sorted(variables)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[tf.constant(variables[n]) for n in names])


@pytest.fixture(scope="module")
def reference_checkpoint():
    if not Path(str(REFERENCE) + ".index").exists():
        pytest.skip("original checkpoint not available in ../shared/reference")
    return REFERENCE


def original_vector_cnn(v, pair):
    """The original VectorCNN forward pass (inference) in plain TensorFlow ops.

    Written from the release's description, independently of the Keras model:
    conv 3x3 SAME without bias, batch norm with moving statistics (eps 1e-5),
    ELU, 2x2 average pooling, nearest x2 upsampling and additive skips.
    """
    def conv_bn(x, name):
        x = tf.nn.conv2d(x, v[f"VectorCNN/{name}/weights"], 1, "SAME")
        mean, var = v[f"VectorCNN/{name}/bn/moving_mean"], v[f"VectorCNN/{name}/bn/moving_variance"]
        gamma, beta = v[f"VectorCNN/{name}/bn/gamma"], v[f"VectorCNN/{name}/bn/beta"]
        return (x - mean) / np.sqrt(var + 1e-5) * gamma + beta

    def up(x):
        return tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)

    x, skips = tf.constant(pair), []
    for level in (1, 2, 3):
        x = tf.nn.elu(conv_bn(x, f"conv{level}_a"))
        x = conv_bn(x, f"conv{level}_b")
        skips.append(x)
        x = tf.nn.avg_pool2d(tf.nn.elu(x), 2, 2, "SAME")
    x = tf.nn.elu(conv_bn(tf.nn.elu(conv_bn(x, "conv4_a")), "conv4_b"))
    for level in (5, 6, 7):
        x = tf.nn.elu(conv_bn(up(x), f"deconv{level - 1}") + skips[7 - level])
        x = tf.nn.elu(conv_bn(tf.nn.elu(conv_bn(x, f"conv{level}_a")), f"conv{level}_b"))
    return conv_bn(x, "conv_out").numpy()


def test_imported_model_gives_the_original_field_on_real_pairs(reference_checkpoint, data_root, tmp_path):
    from acregnet_cli.datasets.config import load_dataset_config
    from acregnet_cli.datasets.layout import load_split

    summary = import_tf1(reference_checkpoint, tmp_path / "model")
    assert summary == {"architecture": "vector_cnn", "variables": 90, "output": str(tmp_path / "model")}
    model, description = load_vector_cnn(tmp_path / "model")
    assert description["resize"] == "legacy"
    test = load_split(load_dataset_config("jsrt"), data_root, "test", 64)
    rng = np.random.RandomState(1)
    moving, fixed = rng.choice(len(test), 16), rng.choice(len(test), 16)
    pair = np.stack([test.images[moving], test.images[fixed]], axis=-1)
    ours = model(pair, training=False).numpy()
    reference = original_vector_cnn(read_checkpoint(reference_checkpoint), pair)
    assert np.abs(reference).max() > 0.5  # the fields are not trivially zero
    assert np.abs(ours - reference).max() < 1e-3


@pytest.mark.slow
def test_imported_model_scores_the_reference_figures_at_256(reference_checkpoint, data_root, tmp_path):
    from medpy.metric.binary import assd, dc, hd

    from acregnet_cli.datasets.config import load_dataset_config
    from acregnet_cli.datasets.layout import load_split
    from acregnet_cli.registration import Registrar

    import_tf1(reference_checkpoint, tmp_path / "model")
    model, description = load_vector_cnn(tmp_path / "model")
    config = load_dataset_config("jsrt")
    test = load_split(config, data_root, "test", 256)
    n = len(test)
    draw = np.random.RandomState(0)
    moving, fixed = draw.choice(n, 2 * n), draw.choice(n, 2 * n)
    results = Registrar(model, 64, description["resize"]).register_many(
        [(test.images[m], test.images[f], test.labels[m]) for m, f in zip(moving, fixed)])
    spacing = config.spacing(256)
    scores = np.array([
        np.mean([[dc(r.warped_mask == k, test.labels[f] == k), hd(r.warped_mask == k, test.labels[f] == k, spacing),
                  assd(r.warped_mask == k, test.labels[f] == k, spacing)] for k in (1, 2, 3)], axis=0)
        for r, f in zip(results, fixed)])
    dsc, hausdorff, surface = scores.mean(axis=0)
    assert dsc == pytest.approx(0.940, abs=0.002)
    assert hausdorff == pytest.approx(18.73, abs=0.1)
    assert surface == pytest.approx(3.60, abs=0.05)


def test_cli_import_then_register(reference_checkpoint, tmp_path):
    result = run("import-tf1", reference_checkpoint, "-o", tmp_path / "m", "--json")
    assert result.exit_code == 0, result.output
    again = run("import-tf1", reference_checkpoint, "-o", tmp_path / "m")
    assert again.exit_code == 2 and "--overwrite" in again.output
    from PIL import Image

    rng = np.random.RandomState(0)
    for name in ("a.png", "b.png"):
        Image.fromarray((rng.rand(128, 128) * 255).astype(np.uint8)).save(tmp_path / name)
    result = run("register", tmp_path / "a.png", tmp_path / "b.png", "--model", tmp_path / "m", "-o", tmp_path / "r")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "r" / "field.npy").shape == (128, 128, 2)


def autoencoder_variables(encoder, decoder):
    """The TF1 names of an autoencoder's variables, as the original release saved them."""
    variables = {}
    for model in (encoder, decoder):
        for layer in model.layers:
            if isinstance(layer, tf.keras.layers.BatchNormalization) or layer.__class__.__name__ == "BatchNormalization":
                base = layer.name[:-3]
                for part, weight in zip(("gamma", "beta", "moving_mean", "moving_variance"), layer.weights):
                    variables[f"CNN_AE/{base}/bn/{part}"] = weight.numpy()
            elif layer.name in ("fc1", "fc2"):
                variables[f"CNN_AE/{layer.name}/kernel"] = layer.kernel.numpy()
                variables[f"CNN_AE/{layer.name}/bias"] = layer.bias.numpy()
            elif layer.name == "conv_out":
                variables["CNN_AE/conv_out/weights"] = layer.kernel.numpy()
                variables["CNN_AE/conv_out/biases"] = layer.bias.numpy()
            elif hasattr(layer, "kernel"):
                variables[f"CNN_AE/{layer.name}/weights"] = layer.kernel.numpy()
    return variables


def test_autoencoder_checkpoint_round_trip(tmp_path):
    encoder, decoder, _ = mask_autoencoder(64, 4, 32)
    variables = autoencoder_variables(encoder, decoder)
    rng = np.random.RandomState(0)
    variables = {k: (rng.rand(*v.shape).astype(np.float32) + 0.5) for k, v in variables.items()}
    variables["CNN_AE/fc1/kernel/Adam"] = np.zeros((64, 32), np.float32)  # optimizer slots are ignored
    save_tf1_checkpoint(tmp_path / "model.ckpt", variables)
    assert import_tf1(tmp_path / "model.ckpt", tmp_path / "ae")["architecture"] == "mask_autoencoder"
    loaded_encoder, loaded_decoder, description = load_autoencoder(tmp_path / "ae")
    assert (description["size"], description["num_classes"], description["code_size"]) == (64, 4, 32)
    np.testing.assert_array_equal(loaded_encoder.get_layer("fc1").kernel.numpy(), variables["CNN_AE/fc1/kernel"])
    np.testing.assert_array_equal(loaded_decoder.get_layer("conv_out").bias.numpy(), variables["CNN_AE/conv_out/biases"])
    np.testing.assert_array_equal(loaded_encoder.get_layer("conv1_a_bn").moving_variance.numpy(),
                                  variables["CNN_AE/conv1_a/bn/moving_variance"])


def test_missing_extra_and_mismatched_variables_are_all_reported(tmp_path):
    encoder, decoder, _ = mask_autoencoder(64, 4, 32)
    variables = autoencoder_variables(encoder, decoder)
    del variables["CNN_AE/conv4/weights"]
    variables["CNN_AE/conv9/weights"] = np.zeros((3, 3, 1, 1), np.float32)
    variables["CNN_AE/conv5/weights"] = np.zeros((3, 3, 16, 8), np.float32)
    save_tf1_checkpoint(tmp_path / "model.ckpt", variables)
    with pytest.raises(InputError) as info:
        import_tf1(tmp_path / "model.ckpt", tmp_path / "out")
    message = str(info.value)
    assert "missing: CNN_AE/conv4/weights" in message
    assert "unexpected: CNN_AE/conv9/weights" in message
    assert "CNN_AE/conv5/weights: checkpoint [3, 3, 16, 8], model [3, 3, 16, 16]" in message
    assert not (tmp_path / "out" / "model.json").exists()


def test_bad_checkpoint_paths_fail_clearly(tmp_path):
    result = run("import-tf1", tmp_path / "nothing.ckpt", "-o", tmp_path / "o")
    assert result.exit_code == 2 and "nothing.ckpt.index not found" in result.output
    (tmp_path / "bad.ckpt.index").write_bytes(b"garbage")
    (tmp_path / "bad.ckpt.data-00000-of-00001").write_bytes(b"garbage")
    result = run("import-tf1", tmp_path / "bad.ckpt", "-o", tmp_path / "o")
    assert result.exit_code == 2 and "unreadable checkpoint" in result.output
    save_tf1_checkpoint(tmp_path / "other.ckpt", {"Something/w": np.zeros(3, np.float32)})
    result = run("import-tf1", tmp_path / "other.ckpt", "-o", tmp_path / "o")
    assert result.exit_code == 2 and "no VectorCNN/ or CNN_AE/" in result.output
