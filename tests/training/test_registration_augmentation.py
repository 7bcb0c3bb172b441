"""train-reg's affine augmentation of the training pairs (an extension)."""

import csv

import pytest
from click.testing import CliRunner

from acregnet_cli.cli import main


def train(root, config, run_dir, *extra):
    # Learning rate 0: the weights stay as they start, so the logged terms differ
    # between runs only through the batches the network sees.
    args = ["train-reg", "--dataset", str(config), "--data-dir", str(root), "--variant", "ce-regnet",
            "--batch-size", "4", "--iterations", "4", "--log-every", "2", "--learning-rate", "0",
            "--quiet", "-o", str(run_dir), *extra]
    return CliRunner().invoke(main, args)


def terms(run_dir):
    return [(float(row["ncc"]), float(row["ce"])) for row in csv.DictReader((run_dir / "log.csv").open())]


@pytest.mark.slow
def test_augmentation_changes_the_training_pairs_and_is_recorded(synthetic_dataset, tmp_path):
    root, config = synthetic_dataset
    plain = train(root, config, tmp_path / "plain")
    moved = train(root, config, tmp_path / "moved", "--augment-rotation", "10", "--augment-scale", "0.1",
                  "--augment-shift", "0.05")
    assert plain.exit_code == 0 and moved.exit_code == 0, plain.output + moved.output
    assert len(terms(tmp_path / "moved")) == 2
    assert terms(tmp_path / "plain") != terms(tmp_path / "moved")
    text = (tmp_path / "moved" / "config.toml").read_text()
    assert "augment_rotation = 10.0" in text and "augment_shift = 0.05" in text


def test_a_bad_augmentation_is_refused_before_anything_is_written(synthetic_dataset, tmp_path):
    root, config = synthetic_dataset
    result = train(root, config, tmp_path / "run", "--augment-scale", "2")
    assert result.exit_code == 2 and "--augment-scale must be in [0.0, 0.9]" in result.output
    assert not (tmp_path / "run").exists()
