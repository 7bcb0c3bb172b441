"""train-reg on several datasets at once (issue 33's model for the wild)."""

import json

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from acregnet_cli.cli import main
from acregnet_cli.training.registration import batch_shares, draw_pairs


@pytest.fixture(scope="module")
def two_datasets(tmp_path_factory):
    """(root, 4-class dataset TOML, 2-class dataset TOML) under one data root."""
    from conftest import write_synthetic_dataset

    root = tmp_path_factory.mktemp("two")
    four = write_synthetic_dataset(root, count=6, test_count=2)
    # The second: the same layout with one lung class only (as Montgomery and Shenzhen).
    base = root / "data" / "Synthetic"
    lungs = root / "data" / "Lungs"
    (lungs / "LR_64" / "images").mkdir(parents=True)
    (lungs / "LR_64" / "labels").mkdir(parents=True)
    (lungs / "split").mkdir()
    from PIL import Image

    for path in sorted((base / "LR_64" / "images").iterdir()):
        Image.open(path).save(lungs / "LR_64" / "images" / path.name)
        labels = np.asarray(Image.open(base / "LR_64" / "labels" / path.name))
        Image.fromarray(np.where(np.isin(labels, (10, 20)), 255, 0).astype(np.uint8)).save(
            lungs / "LR_64" / "labels" / path.name)
    for path in (base / "split").iterdir():
        (lungs / "split" / path.name).write_text(path.read_text().replace("Synthetic", "Lungs"))
    two = root / "lungs.toml"
    two.write_text('name = "lungs"\ndirectory = "data/Lungs"\nsizes = [64]\nlabel_values = [0, 255]\n'
                   'class_names = ["background", "lungs"]\n')
    return root, four, two


def train(root, datasets, run_dir, *extra, command="train-reg"):
    args = [command, "--dataset", ",".join(map(str, datasets)), "--data-dir", str(root), "--batch-size", "4",
            "--iterations", "2", "--log-every", "1", "--quiet", "-o", str(run_dir), *extra]
    if command == "train-reg":
        args += ["--variant", "ce-regnet"]
    return CliRunner().invoke(main, args)


def test_pairs_are_drawn_within_each_dataset_in_equal_shares():
    assert batch_shares(32, 3) == [11, 11, 10] and batch_shares(8, 1) == [8]
    moving, fixed = draw_pairs(tf.random.Generator.from_seed(1), [5, 3, 7], batch_shares(30, 3))
    moving, fixed = moving.numpy(), fixed.numpy()
    for first, low, high in ((0, 0, 5), (10, 5, 8), (20, 8, 15)):
        for indices in (moving, fixed):
            part = indices[first:first + 10]
            assert part.min() >= low and part.max() < high
    # Every item of the smallest dataset is drawn in a few batches, not only its first.
    assert set(moving[10:20]) | set(fixed[10:20]) == {5, 6, 7}


@pytest.mark.slow
def test_two_datasets_with_different_label_sets_train_one_network(two_datasets, tmp_path):
    root, four, two = two_datasets
    result = train(root, [four, two], tmp_path / "run")
    assert result.exit_code == 0, result.output
    model = json.loads((tmp_path / "run" / "model.json").read_text())
    assert model["dataset"] == "synthetic+lungs"
    rows = (tmp_path / "run" / "log.csv").read_text().splitlines()
    assert rows[0].split(",")[-1] == "ce" and len(rows) == 3
    assert all(np.isfinite(float(row.split(",")[-1])) for row in rows[1:])


def test_several_datasets_are_refused_where_they_cannot_be_used(two_datasets, tmp_path):
    root, four, two = two_datasets
    twice = train(root, [four, four], tmp_path / "twice")
    assert twice.exit_code == 2 and "each once" in twice.output
    autoencoder = train(root, [four, two], tmp_path / "ae", command="train-ae")
    assert autoencoder.exit_code == 2 and "train-ae takes one dataset" in autoencoder.output
    small = train(root, [four, two], tmp_path / "small", "--batch-size", "1")
    assert small.exit_code == 2 and "smaller than the number of datasets" in small.output
    assert not any(tmp_path.joinpath(name).exists() for name in ("twice", "ae", "small"))
