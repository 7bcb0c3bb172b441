"""Batch sampling and the autoencoder's swap noise."""

import numpy as np
import tensorflow as tf

from acregnet_cli import generators


def test_swap_noise_changes_only_border_pairs_at_about_ten_percent():
    rng = np.random.RandomState(0)
    labels = np.zeros((40, 64, 64), np.int32)
    for item in labels:  # random rectangles: many vertical borders
        for _ in range(6):
            y, x = rng.randint(0, 48, 2)
            item[y:y + 16, x:x + rng.randint(3, 16)] = rng.randint(1, 4)
    noisy = generators.swap_noise(tf.constant(labels), tf.random.Generator.from_seed(1), 0.1).numpy()
    left, right = labels[..., 0::2], labels[..., 1::2]
    swappable = left != right
    changed_pairs = (noisy[..., 0::2] != left)
    # Only pairs with different labels can change, and a change is an exact swap.
    assert not np.any(changed_pairs & ~swappable)
    np.testing.assert_array_equal(noisy[..., 0::2][changed_pairs], right[changed_pairs])
    np.testing.assert_array_equal(noisy[..., 1::2][changed_pairs], left[changed_pairs])
    rate = changed_pairs.sum() / swappable.sum()
    assert 0.08 < rate < 0.12, rate
    # The label histogram is preserved: pixels move, none are created.
    np.testing.assert_array_equal(np.bincount(noisy.ravel()), np.bincount(labels.ravel()))


def test_swap_noise_on_one_hot_masks_matches_label_noise():
    labels = np.random.RandomState(0).randint(0, 3, (4, 8, 8)).astype(np.int32)
    noisy_labels = generators.swap_noise(tf.constant(labels), tf.random.Generator.from_seed(5), 0.5).numpy()
    onehot = generators.one_hot_masks(labels, 3)
    noisy_onehot = generators.swap_noise(onehot, tf.random.Generator.from_seed(5), 0.5).numpy()
    np.testing.assert_array_equal(np.argmax(noisy_onehot, -1), noisy_labels)


def test_pair_sampling_is_seeded_and_in_range():
    a = generators.sample_pairs(tf.random.Generator.from_seed(3), 10, 32)
    b = generators.sample_pairs(tf.random.Generator.from_seed(3), 10, 32)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.numpy(), y.numpy())
        assert x.numpy().min() >= 0 and x.numpy().max() < 10
