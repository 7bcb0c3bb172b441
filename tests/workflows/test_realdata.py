"""Tests on the authors' real data; skipped when ACREGNET_DATA is not set."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner

from acregnet_cli.cli import main
from acregnet_cli.datasets.config import load_dataset_config
from acregnet_cli.datasets.layout import carve_validation, load_split

# Training runs, subprocesses or real-data sweeps: outside the quick subset.
pytestmark = pytest.mark.slow


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("name,train,test,classes", [
    ("jsrt", 197, 50, 4), ("montgomery", 110, 28, 2), ("shenzhen", 440, 110, 2)])
def test_authors_splits_load_with_consecutive_labels(data_root, name, train, test, classes):
    config = load_dataset_config(name)
    split = load_split(config, data_root, "test", 64)
    assert len(split) == test
    assert split.images.shape == (test, 64, 64) and split.images.max() <= 1.0
    assert set(np.unique(split.labels)) == set(range(classes))
    if name == "jsrt":
        full = load_split(config, data_root, "train", 64)
        assert len(full) == train
        kept, held = carve_validation(full, 0.2, seed=0)
        assert len(kept) + len(held) == train and not set(kept.names) & set(held.names)
        again, _ = carve_validation(full, 0.2, seed=0)
        assert again.names == kept.names


@pytest.fixture(scope="module")
def short_jsrt_run(data_root, tmp_path_factory):
    runs = tmp_path_factory.mktemp("jsrt")
    result = run("train-ae", "--dataset", "jsrt", "--data-dir", data_root, "-o", runs / "ae",
                 "--iterations", 150, "--log-every", 25, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    result = run("train-reg", "--dataset", "jsrt", "--data-dir", data_root, "-o", runs / "ac",
                 "--ae-run", runs / "ae", "--iterations", 200, "--batch-size", 16, "--log-every", 20, "--quiet")
    assert result.exit_code == 0, result.output
    return runs


def _log(path):
    with open(path) as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def test_a_few_hundred_steps_on_real_data_lower_the_losses(short_jsrt_run):
    ae_log = _log(short_jsrt_run / "ae" / "log.csv")
    assert ae_log[-1]["loss"] < 0.5 * ae_log[0]["loss"]
    reg_log = _log(short_jsrt_run / "ac" / "log.csv")
    first, last = reg_log[0], reg_log[-1]
    assert last["loss"] < first["loss"]
    assert last["ncc"] > first["ncc"]
    assert last["ae"] < first["ae"]


def test_register_real_256_pair_improves_dice(short_jsrt_run, data_root, tmp_path):
    from PIL import Image

    base = data_root / "data" / "JSRT" / "LR_256"
    pairs = [("JPCNN017", "JPCLN001"), ("JPCLN002", "JPCNN006"), ("JPCNN028", "JPCLN010")]
    csv_path = tmp_path / "pairs.csv"
    with open(csv_path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["moving", "fixed", "moving_mask", "name"])
        for m, f in pairs:
            writer.writerow([base / "images" / f"{m}.png", base / "images" / f"{f}.png",
                             base / "labels" / f"{m}.png", f"{m}_{f}"])
    result = run("register", "--pairs", csv_path, "--model", short_jsrt_run / "ac", "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    summaries = json.loads(result.output)
    before, after = [], []
    for (m, f), summary in zip(pairs, summaries):
        assert summary["output_size"] == [256, 256]
        moving = np.array(Image.open(base / "labels" / f"{m}.png"))
        fixed = np.array(Image.open(base / "labels" / f"{f}.png"))
        warped = np.array(Image.open(tmp_path / "out" / f"{m}_{f}" / "warped_mask.png"))
        dice = lambda a, b: np.mean([2 * np.sum((a == k) & (b == k)) / (np.sum(a == k) + np.sum(b == k))
                                     for k in (1, 2, 3)])
        before.append(dice(moving, fixed))
        after.append(dice(warped, fixed))
    assert np.mean(after) > np.mean(before)
