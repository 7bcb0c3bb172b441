"""The TensorFlow-free inference path end to end: the NumPy network, the same registration
as TensorFlow, no TensorFlow import (operation by operation: test_engine_parity.py)."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from acregnet_cli.models.files import load_vector_cnn
from acregnet_cli.np.vector_cnn import LiteVectorCNN


def test_lite_network_reads_keras_weights_and_matches_keras(untrained_model):
    import keras

    model, _ = load_vector_cnn(untrained_model)
    # Give the batch norms non-trivial statistics so that a wrong mapping would show.
    rng = np.random.RandomState(2)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            for weight in layer.weights:
                weight.assign(rng.rand(*weight.shape).astype(np.float32) + 0.5)
    path = untrained_model.parent / "lite_check.weights.h5"
    model.save_weights(str(path))
    lite = LiteVectorCNN.from_weights(path)
    pair = rng.rand(3, 64, 64, 2).astype(np.float32)
    expected = model(pair, training=False).numpy()
    assert np.abs(expected).max() > 0.1
    np.testing.assert_allclose(lite(pair), expected, atol=1e-4)
    conv_names = [layer.name for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    from acregnet_cli.architecture import VECTOR_CNN_LAYERS

    assert conv_names == [name for name, _ in VECTOR_CNN_LAYERS]  # the storage order lite relies on


def test_engines_write_the_same_registration(untrained_model, tmp_path):
    from click.testing import CliRunner

    from acregnet_cli.cli import main

    rng = np.random.RandomState(3)
    for name in ("m.png", "f.png"):
        Image.fromarray((rng.rand(100, 130) * 255).astype(np.uint8)).save(tmp_path / name)
    labels = np.zeros((100, 130), np.uint8)
    labels[20:80, 30:100] = 7
    Image.fromarray(labels).save(tmp_path / "mask.png")
    outputs = {}
    for engine in ("numpy", "tensorflow"):
        result = CliRunner().invoke(main, ["register", str(tmp_path / "m.png"), str(tmp_path / "f.png"), "--mask",
                                           str(tmp_path / "mask.png"), "--model", str(untrained_model),
                                           "-o", str(tmp_path / engine), "--engine", engine, "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["engine"] == engine
        outputs[engine] = (np.load(tmp_path / engine / "field.npy"),
                           np.array(Image.open(tmp_path / engine / "warped.png")).astype(int),
                           np.array(Image.open(tmp_path / engine / "warped_mask.png")))
    np.testing.assert_allclose(outputs["numpy"][0], outputs["tensorflow"][0], atol=1e-4)
    assert np.abs(outputs["numpy"][1] - outputs["tensorflow"][1]).max() <= 1
    assert np.mean(outputs["numpy"][2] != outputs["tensorflow"][2]) < 1e-3


@pytest.mark.slow
def test_single_registration_does_not_start_tensorflow(untrained_model, tmp_path):
    rng = np.random.RandomState(4)
    for name in ("m.png", "f.png"):
        Image.fromarray((rng.rand(64, 64) * 255).astype(np.uint8)).save(tmp_path / name)
    script = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from acregnet_cli.cli import main\n"
        f"result = CliRunner().invoke(main, ['register', r'{tmp_path / 'm.png'}', r'{tmp_path / 'f.png'}', "
        f"'--model', r'{untrained_model}', '-o', r'{tmp_path / 'out'}'])\n"
        "assert result.exit_code == 0, result.output\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    output = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert output.strip().splitlines()[-1] == "False False"


@pytest.mark.slow
def test_label_map_path_equals_the_one_hot_path_and_numpy(untrained_model, tmp_path):
    from acregnet_cli.registration import Registrar
    from acregnet_cli.registration.engines import NumpyOps

    model, description = load_vector_cnn(untrained_model)
    rng = np.random.RandomState(3)
    # Make the untrained network move things: a large gain in its last batch norm.
    weights = model.get_weights()
    model.set_weights([np.full_like(w, 3e5) if i == len(weights) - 4 else w for i, w in enumerate(weights)])
    model.save_weights(tmp_path / "gain.weights.h5")
    jobs = []
    for labels, side in (((0, 10, 20, 30), 48), ((0, 7, 9), 48), ((0, 5), 40)):
        blobs = np.kron(rng.choice(labels, (side // 8, side // 8)), np.ones((8, 8), np.int64))
        jobs.append((rng.rand(side, side), rng.rand(48, 48), blobs))
    lean = Registrar(model, description["size"], keep_onehot=False).register_many(jobs)
    full = Registrar(model, description["size"], keep_onehot=True).register_many(jobs)
    lite = LiteVectorCNN.from_weights(tmp_path / "gain.weights.h5")
    numpy = Registrar(lite, description["size"], ops=NumpyOps(lite), keep_onehot=False).register_many(jobs)
    assert np.abs(full[0].field).max() > 0.5  # the test is not about a zero field
    for a, b, c, (_, _, mask) in zip(lean, full, numpy, jobs):
        assert a.warped_onehot is None and b.warped_onehot.shape[-1] == len(np.unique(mask))
        np.testing.assert_array_equal(a.warped_mask, b.warped_mask)
        assert np.mean(a.warped_mask != c.warped_mask) < 1e-3
        assert set(np.unique(a.warped_mask)) <= set(np.unique(mask))
        np.testing.assert_allclose(a.warped, b.warped, atol=1e-5)
        assert a.folding_fraction == pytest.approx(b.folding_fraction, abs=1e-6)
