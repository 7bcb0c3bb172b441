"""Section 5 experiments: the mask modifications and the plausibility study."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from acregnet_cli.applications.experiments import (
    MODIFICATIONS,
    erode_borders,
    modify,
    plausibility,
    remove_block,
)
from acregnet_cli.cli import main


def mask():
    labels = np.zeros((64, 64), np.int32)
    labels[10:50, 8:28] = 2
    labels[10:50, 36:56] = 1
    labels[35:55, 24:44] = 3
    return labels


def test_erosion_removes_exactly_n_border_pixels():
    original = mask()
    eroded = erode_borders(original, 120, np.random.RandomState(0))
    changed = eroded != original
    assert changed.sum() == 120
    assert np.all(eroded[changed] == 0)
    # Every removed pixel lies within two pixels of its structure's original border.
    from scipy import ndimage

    depth = sum(ndimage.distance_transform_cdt(original == k) for k in (1, 2, 3))
    assert depth[changed].max() <= 2


@pytest.mark.parametrize("name,cls", [("block left lung", 1), ("block right lung", 2), ("block heart", 3)])
def test_blocks_remove_a_compact_piece_of_one_structure(name, cls):
    original = mask()
    modified = modify(original, name, 120, np.random.RandomState(1))
    changed = modified != original
    assert changed.sum() == 120 and np.all(original[changed] == cls)
    from scipy import ndimage

    assert ndimage.label(changed)[1] == 1  # one connected block


def test_block_larger_than_structure_is_refused():
    with pytest.raises(ValueError):
        remove_block(mask(), 3, 10000, np.random.RandomState(0))


def test_cross_entropy_is_equal_across_modifications():
    import keras

    from acregnet_cli.tf.networks import mask_autoencoder

    keras.utils.set_random_seed(0)
    encoder, _, _ = mask_autoencoder(64, 4, 32)
    rows = plausibility(np.stack([mask(), mask()]), encoder, 4, pixels=120)
    assert [r["modification"] for r in rows[:4]] == list(MODIFICATIONS)
    assert len({round(r["ce_release"], 6) for r in rows}) == 1
    assert len({round(r["ce_textbook"], 6) for r in rows}) == 1
    assert all(r["changed_pixels"] == 120 and r["ae"] >= 0 for r in rows)


@pytest.mark.slow
def test_plausibility_command(synthetic_dataset, tmp_path):
    root, config = synthetic_dataset
    runner = CliRunner()
    result = runner.invoke(main, ["train-ae", "--dataset", str(config), "--data-dir", str(root), "-o",
                                  str(tmp_path / "ae"), "--iterations", "20", "--quiet"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["experiment", "plausibility", "--dataset", str(config), "--data-dir", str(root),
                                  "--ae-run", str(tmp_path / "ae"), "-o", str(tmp_path / "out"), "-n", "3",
                                  "--pixels", "40", "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["cross_entropy_equal"] is True
    assert set(summary["ae_loss"]) == set(MODIFICATIONS)
    for name in ("plausibility.csv", "plausibility.md", "plausibility.png"):
        assert (tmp_path / "out" / name).exists()

    # An earlier report stays unless --overwrite is given.
    args = ["experiment", "plausibility", "--dataset", str(config), "--data-dir", str(root),
            "--ae-run", str(tmp_path / "ae"), "-o", str(tmp_path / "out"), "-n", "2", "--pixels", "40"]
    before = (tmp_path / "out" / "plausibility.csv").read_text()
    refused = runner.invoke(main, args)
    assert refused.exit_code == 2 and "plausibility.csv" in refused.output and "--overwrite" in refused.output
    assert (tmp_path / "out" / "plausibility.csv").read_text() == before
    replaced = runner.invoke(main, args + ["--overwrite"])
    assert replaced.exit_code == 0, replaced.output
    assert (tmp_path / "out" / "plausibility.csv").read_text() != before

    codes = tmp_path / "codes"
    codes.mkdir()
    (codes / "codes.json").write_text("{}")
    refused = runner.invoke(main, ["experiment", "codes", "--dataset", str(config), "--data-dir", str(root),
                                   "--ae-run", str(tmp_path / "ae"), "-o", str(codes)])
    assert refused.exit_code == 2 and "codes.json" in refused.output
    assert (codes / "codes.json").read_text() == "{}"


def test_diagnosis_labels_come_from_file_names():
    from acregnet_cli.applications.experiments import diagnosis_from_name

    assert diagnosis_from_name("CHNCXR_0379_1") == 1 and diagnosis_from_name("CHNCXR_0012_0_mask") == 0
    assert diagnosis_from_name("MCUCXR_0002_0") == 0
    assert diagnosis_from_name("JPCLN001") == 1 and diagnosis_from_name("JPCNN001") == 0
    assert diagnosis_from_name("patient7") is None


def test_representation_study_separates_an_obvious_shape_difference():
    import keras

    from acregnet_cli.applications.experiments import representation_study
    from acregnet_cli.tf.networks import mask_autoencoder

    keras.utils.set_random_seed(0)
    encoder, _, _ = mask_autoencoder(64, 4, 32)
    rng = np.random.RandomState(0)
    masks, labels = [], []
    for index in range(40):
        m = mask()
        if index % 2:  # "cardiomegaly": a much larger heart
            m[30:60, 18:50] = 3
        masks.append(np.roll(m, rng.randint(-2, 3), axis=0))
        labels.append(index % 2)
    results = representation_study(np.stack(masks), labels, encoder, 4, components=8, folds=5)
    assert results["balanced_set"] == 40
    assert results["pca"]["accuracy_mean"] > 0.9
    assert len(results["autoencoder"]["fold_accuracies"]) == 5


def test_lung_field_modifications_pick_the_lung_by_side():
    from acregnet_cli.applications.experiments import (
        LUNG_FIELD_MODIFICATIONS,
        modifications_for,
        modify,
    )

    labels = np.zeros((40, 40), np.int32)
    labels[5:35, 3:15] = 1  # the lung on the image's left
    labels[5:30, 22:37] = 1  # and on its right
    labels[0, 39] = 1  # a stray pixel is not a lung
    assert modifications_for(["background", "lungs"]) == LUNG_FIELD_MODIFICATIONS
    with pytest.raises(ValueError, match="lungs"):
        modifications_for(["background", "liver"])
    rng = np.random.RandomState(0)
    for modification, columns in zip(LUNG_FIELD_MODIFICATIONS[1:], (slice(0, 18), slice(18, 40))):
        changed = modify(labels, modification, 30, rng)
        removed = (labels == 1) & (changed == 0)
        assert removed.sum() == 30 and removed[:, columns].sum() == 30
    eroded = modify(labels, "erosion", 30, rng)
    assert ((labels == 1) & (eroded == 0)).sum() == 30
    one_lung = np.zeros((20, 20), np.int32)
    one_lung[5:15, 5:15] = 1
    with pytest.raises(ValueError, match="two lungs"):
        modify(one_lung, LUNG_FIELD_MODIFICATIONS[1], 10, rng)
