"""train-reg --init-from: start from a trained model's weights (fine-tuning, longer training)."""

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from acregnet_cli.cli import main


def weight_arrays(path):
    arrays = []
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: arrays.append((name, obj[()])) if isinstance(obj, h5py.Dataset) else None)
    return dict(arrays)


def learnt(arrays):
    """The trainable weights: batch normalisation's moving mean and variance (vars/2, vars/3) move in training."""
    return {k: v for k, v in arrays.items() if not ("batch_normalization" in k and k.endswith(("vars/2", "vars/3")))}


def train(root, config, run_dir, *extra):
    args = ["train-reg", "--dataset", str(config), "--data-dir", str(root), "--variant", "regnet",
            "--batch-size", "4", "--iterations", "2", "--log-every", "1", "--quiet", "-o", str(run_dir), *extra]
    return CliRunner().invoke(main, args)


@pytest.mark.slow
def test_a_frozen_run_keeps_the_initial_weights_and_a_fresh_one_does_not(synthetic_dataset, untrained_model, tmp_path):
    root, config = synthetic_dataset
    start = learnt(weight_arrays(untrained_model / "vector_cnn.weights.h5"))
    # A zero learning rate makes Adam's update zero, so the result must be the starting point.
    result = train(root, config, tmp_path / "tuned", "--init-from", str(untrained_model), "--learning-rate", "0",
                   "--seed", "5")
    assert result.exit_code == 0, result.output
    tuned = learnt(weight_arrays(tmp_path / "tuned" / "vector_cnn.weights.h5"))
    assert tuned.keys() == start.keys() and len(start) > 30
    assert all(np.array_equal(tuned[k], start[k]) for k in start)
    assert f'init_from = "{untrained_model}"' in (tmp_path / "tuned" / "config.toml").read_text()

    fresh = train(root, config, tmp_path / "fresh", "--learning-rate", "0", "--seed", "5")
    assert fresh.exit_code == 0, fresh.output
    scratch = learnt(weight_arrays(tmp_path / "fresh" / "vector_cnn.weights.h5"))
    assert any(not np.array_equal(scratch[k], start[k]) for k in start if start[k].size > 1)


@pytest.mark.slow
def test_training_goes_on_from_the_initial_weights(synthetic_dataset, untrained_model, tmp_path):
    root, config = synthetic_dataset
    result = train(root, config, tmp_path / "tuned", "--init-from", str(untrained_model), "--learning-rate", "1e-3")
    assert result.exit_code == 0, result.output
    start = learnt(weight_arrays(untrained_model / "vector_cnn.weights.h5"))
    tuned = learnt(weight_arrays(tmp_path / "tuned" / "vector_cnn.weights.h5"))
    moved = [float(np.max(np.abs(tuned[k] - start[k]))) for k in start if start[k].size > 1]
    # Two Adam steps of 1e-3 move each weight by at most about 2e-3.
    assert max(moved) > 0 and max(moved) < 3e-3


@pytest.mark.slow
def test_a_bundled_model_is_found_by_name(synthetic_dataset, tmp_path):
    root, config = synthetic_dataset
    result = train(root, config, tmp_path / "tuned", "--init-from", "jsrt")
    assert result.exit_code == 0, result.output
    assert "init_from" in (tmp_path / "tuned" / "config.toml").read_text()


def test_wrong_size_or_missing_model_is_refused_before_anything_is_written(synthetic_dataset, untrained_model,
                                                                          tmp_path):
    root, config = synthetic_dataset
    missing = train(root, config, tmp_path / "a", "--init-from", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2 and "nowhere" in missing.output and "not found" in missing.output
    assert not (tmp_path / "a").exists()

    autoencoder_like = tmp_path / "ae"
    autoencoder_like.mkdir()
    (autoencoder_like / "model.json").write_text(
        '{"architecture": "mask_autoencoder", "size": 64, "num_classes": 4, "code_size": 32}')
    wrong_kind = train(root, config, tmp_path / "b", "--init-from", str(autoencoder_like))
    assert wrong_kind.exit_code == 2 and "not a registration network" in wrong_kind.output
    assert not (tmp_path / "b").exists()
    (autoencoder_like / "model.json").write_text('{"architecture": "autoencoder", "size": 64}')
    unknown = train(root, config, tmp_path / "b", "--init-from", str(autoencoder_like))
    assert unknown.exit_code == 2 and "architecture must be one of vector_cnn, mask_autoencoder" in unknown.output
    assert not (tmp_path / "b").exists()


def test_a_model_of_another_size_starts_the_run_at_this_size(synthetic_dataset_256, untrained_model, tmp_path):
    """The VectorCNN is fully convolutional: a 64 px model's weights start a 256 px run
    (fine-tuning to a finer field, experiments/ctr); it was refused before."""
    root, config = synthetic_dataset_256
    start = learnt(weight_arrays(untrained_model / "vector_cnn.weights.h5"))
    result = train(root, config, tmp_path / "big", "--size", "256", "--init-from", str(untrained_model),
                   "--learning-rate", "0")
    assert result.exit_code == 0, result.output
    tuned = learnt(weight_arrays(tmp_path / "big" / "vector_cnn.weights.h5"))
    assert tuned.keys() == start.keys() and all(np.array_equal(tuned[k], start[k]) for k in start)
    assert '"size": 256' in (tmp_path / "big" / "model.json").read_text()
