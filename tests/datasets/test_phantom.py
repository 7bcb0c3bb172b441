"""Phantoms: anatomy present, variation between subjects, known deformations, dataset layout."""

import numpy as np

from acregnet_cli.datasets.config import load_dataset_config
from acregnet_cli.datasets.layout import load_split
from acregnet_cli.datasets.phantom import (
    make_deformed_pair,
    make_subject,
    warp_numpy,
    write_phantom_dataset,
)


def test_subjects_have_lungs_and_heart_and_vary():
    rng = np.random.RandomState(0)
    subjects = [make_subject(rng, 128) for _ in range(4)]
    for image, labels in subjects:
        assert image.dtype == np.float32 and 0 <= image.min() and image.max() <= 1
        assert set(np.unique(labels)) == {0, 1, 2, 3}
        # Lungs are darker than the heart, as on a radiograph.
        assert image[np.isin(labels, (1, 2))].mean() < image[labels == 3].mean()
        # Patient's left lung (label 1) is on the image's right.
        assert np.argwhere(labels == 1)[:, 1].mean() > np.argwhere(labels == 2)[:, 1].mean()
    masks = [labels for _, labels in subjects]
    assert not np.array_equal(masks[0], masks[1])
    assert np.std([image.mean() for image, _ in subjects]) > 0.005  # exposure varies


def test_deformed_pair_follows_the_known_field():
    pair = make_deformed_pair(np.random.RandomState(3), 96, max_displacement=4.0)
    assert np.abs(pair["field"]).max() <= 4.0 + 1e-5
    np.testing.assert_allclose(warp_numpy(pair["moving"], pair["field"]), pair["fixed"], atol=1e-5)
    assert not np.array_equal(pair["moving_labels"], pair["fixed_labels"])


def test_phantom_dataset_is_readable_as_a_dataset(tmp_path):
    summary = write_phantom_dataset(tmp_path, 5, size=64, seed=0)
    config = load_dataset_config(summary["dataset_config"])
    train = load_split(config, tmp_path, "train", 64)
    test = load_split(config, tmp_path, "test", 64)
    assert len(train) == 4 and len(test) == 1
    assert (tmp_path / "pairs.csv").read_text().count("\n") == 5
