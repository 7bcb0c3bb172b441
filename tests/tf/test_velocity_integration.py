"""Diffeomorphic extension: the VectorCNN's output integrated as a stationary velocity field."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from acregnet_cli.cli import main
from acregnet_cli.errors import InputError
from acregnet_cli.fields import folding_fraction
from acregnet_cli.np import ops as numpy_ops
from acregnet_cli.tf.layers import IntegrateVelocity
from acregnet_cli.tf.ops import integrate_velocity, warp_bilinear

# The velocity-field extension: in the full suite, not the quick one.
pytestmark = pytest.mark.slow


def sinusoidal_velocity(amplitude, size=64):
    """Columns pushed along x by amplitude * sin(2 pi x / size): as a displacement it folds once
    amplitude * 2 pi / size > 1; its flow is a 1-D flow on each row, so it never folds."""
    x = np.arange(size, dtype=np.float32)
    velocity = np.zeros((1, size, size, 2), np.float32)
    velocity[..., 1] = amplitude * np.sin(2 * np.pi * x / size)[None, None, :]
    return velocity


def smooth_random_velocity(seed, size=64, amplitude=4.0):
    rng = np.random.RandomState(seed)
    coarse = rng.randn(1, 4, 4, 2).astype(np.float32)
    return numpy_ops.resize_images(coarse, size, "modern") * amplitude


def test_zero_velocity_gives_zero_displacement():
    zero = np.zeros((2, 16, 16, 2), np.float32)
    assert not integrate_velocity(zero, 7).numpy().any()
    assert not numpy_ops.integrate_velocity(zero, 7).any()


def test_constant_velocity_integrates_to_the_same_translation():
    velocity = np.zeros((1, 32, 32, 2), np.float32) + np.array([1.5, -2.25], np.float32)
    np.testing.assert_allclose(integrate_velocity(velocity, 7).numpy(), velocity, atol=1e-5)
    np.testing.assert_allclose(numpy_ops.integrate_velocity(velocity, 7), velocity, atol=1e-5)


def test_no_steps_is_the_plain_displacement():
    velocity = smooth_random_velocity(0)
    np.testing.assert_array_equal(integrate_velocity(velocity, 0).numpy(), velocity)


def test_a_velocity_that_folds_as_a_displacement_integrates_without_folding():
    velocity = sinusoidal_velocity(amplitude=20.0)  # 20 * 2 pi / 64 = 1.96 > 1
    assert folding_fraction(velocity[0]) > 0.2
    displacement = integrate_velocity(velocity, 7).numpy()[0]
    assert folding_fraction(displacement) == 0.0
    # The flow still moves pixels a long way: it is not a shrunken copy of the velocity.
    assert np.abs(displacement).max() > 10


def test_integrated_maps_of_opposite_velocities_are_inverse():
    velocity = smooth_random_velocity(1)
    forward = integrate_velocity(velocity, 7)
    backward = integrate_velocity(-velocity, 7)
    # (id + backward) o (id + forward) = id: forward(x) + backward(x + forward(x)) = 0.
    residual = np.abs((forward + warp_bilinear(backward, forward)).numpy()[0, 8:-8, 8:-8])
    # Negating a displacement is no inverse: the same test on the velocity used directly.
    naive = np.abs((velocity + warp_bilinear(-velocity, velocity)).numpy()[0, 8:-8, 8:-8])
    assert np.abs(velocity).max() > 5 and naive.max() > 2
    assert residual.max() < 0.2 and residual.mean() < 0.02  # interpolation error only


@pytest.mark.parametrize("steps", [-1, 2.5, True])
def test_bad_step_counts_raise(steps):
    with pytest.raises(ValueError, match="integration steps"):
        integrate_velocity(np.zeros((1, 8, 8, 2), np.float32), steps)
    with pytest.raises(ValueError, match="integration steps"):
        IntegrateVelocity(steps)


def test_layer_config_round_trip():
    layer = IntegrateVelocity(5, name="integrate")
    clone = IntegrateVelocity.from_config(layer.get_config())
    assert clone.steps == 5 and clone.name == "integrate"


def test_velocity_network_shares_the_weights_file_layout_and_integrates_the_plain_output(tmp_path):
    import keras

    from acregnet_cli.models.files import (
        load_vector_cnn,
        load_vector_cnn_lite,
        write_model_json,
    )
    from acregnet_cli.np.vector_cnn import LiteVectorCNN
    from acregnet_cli.tf.networks import vector_cnn

    keras.utils.set_random_seed(3)
    plain = vector_cnn(64)
    path = tmp_path / "vector_cnn.weights.h5"
    plain.save_weights(str(path))
    write_model_json(tmp_path, dict(architecture="vector_cnn", size=64, dropout=0.5, resize="modern",
                                    weights="vector_cnn.weights.h5", integration_steps=6))
    model, description = load_vector_cnn(tmp_path)
    assert description["integration_steps"] == 6
    assert len(model.weights) == len(plain.weights)
    pair = np.random.RandomState(4).rand(2, 64, 64, 2).astype(np.float32)
    velocity = plain(pair, training=False).numpy()
    expected = integrate_velocity(velocity, 6).numpy()
    np.testing.assert_allclose(model(pair, training=False).numpy(), expected, atol=1e-5)
    lite, _ = load_vector_cnn_lite(tmp_path)
    assert isinstance(lite, LiteVectorCNN) and lite.integration_steps == 6
    np.testing.assert_allclose(lite(pair), expected, atol=1e-4)


@pytest.mark.parametrize("bad", [-2, 1.5, "7", 999])
def test_bad_integration_steps_in_model_json_is_a_clear_error(tmp_path, untrained_model, bad):
    from acregnet_cli.models.files import load_vector_cnn, load_vector_cnn_lite

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "vector_cnn.weights.h5").write_bytes((untrained_model / "vector_cnn.weights.h5").read_bytes())
    description = json.loads((untrained_model / "model.json").read_text())
    (folder / "model.json").write_text(json.dumps(dict(description, integration_steps=bad)))
    for load in (load_vector_cnn, load_vector_cnn_lite):
        with pytest.raises(InputError, match="integration_steps"):
            load(folder)


def train(root, config, run_dir, *extra):
    args = ["train-reg", "--dataset", str(config), "--data-dir", str(root), "--variant", "regnet",
            "--batch-size", "4", "--iterations", "4", "--log-every", "2", "--quiet", "-o", str(run_dir), *extra]
    return CliRunner().invoke(main, args)


@pytest.mark.slow
def test_train_reg_records_the_steps_and_register_uses_them(synthetic_dataset, tmp_path):
    root, config = synthetic_dataset
    run_dir = tmp_path / "velocity"
    result = train(root, config, run_dir, "--integration-steps", "5")
    assert result.exit_code == 0, result.output
    assert json.loads((run_dir / "model.json").read_text())["integration_steps"] == 5
    assert "integration_steps = 5" in (run_dir / "config.toml").read_text()

    images = root / "data" / "Synthetic" / "LR_64" / "images"
    out = tmp_path / "pair"
    result = CliRunner().invoke(main, ["register", str(images / "SYN000.png"), str(images / "SYN005.png"),
                                       "--model", str(run_dir), "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    from acregnet_cli.models.files import load_vector_cnn

    model, _ = load_vector_cnn(run_dir)
    assert model.layers[-1].name == "integrate" and model.layers[-1].steps == 5


def test_bad_steps_or_a_mismatched_init_model_are_refused_before_anything_is_written(synthetic_dataset,
                                                                                     untrained_model, tmp_path):
    root, config = synthetic_dataset
    negative = train(root, config, tmp_path / "a", "--integration-steps", "-1")
    assert negative.exit_code == 2 and "--integration-steps must be in [0, 64]" in negative.output
    assert not (tmp_path / "a").exists()
    mismatched = train(root, config, tmp_path / "b", "--integration-steps", "7", "--init-from", str(untrained_model))
    assert mismatched.exit_code == 2 and "integration_steps = 0" in mismatched.output
    assert not (tmp_path / "b").exists()
