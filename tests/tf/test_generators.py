"""Batch sampling and the autoencoder's swap noise."""

import numpy as np
import tensorflow as tf

from acregnet_cli.tf import sampling as generators


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


def _disk(size, radius):
    yy, xx = np.mgrid[0:size, 0:size] - (size - 1) / 2.0
    return (yy ** 2 + xx ** 2 < radius ** 2).astype(np.int32)


def test_affine_fields_are_zero_without_augmentation():
    field = generators.random_affine_fields(tf.random.Generator.from_seed(0), 3, 16, 12).numpy()
    assert field.shape == (3, 16, 12, 2)
    np.testing.assert_array_equal(field, 0.0)
    labels = np.random.RandomState(0).randint(0, 3, (2, 16, 16)).astype(np.int32)
    same = generators.augment_masks(tf.constant(labels), tf.random.Generator.from_seed(0), 3).numpy()
    np.testing.assert_array_equal(same, labels)


def test_shift_only_fields_are_constant_translations_within_the_bound():
    field = generators.random_affine_fields(tf.random.Generator.from_seed(1), 50, 32, 32, shift=0.1).numpy()
    offsets = field[:, :1, :1, :]
    np.testing.assert_allclose(field, np.broadcast_to(offsets, field.shape), atol=1e-4)
    assert np.abs(offsets).max() <= 3.2 + 1e-4 and np.abs(offsets).max() > 1.5  # drawn over the range


def test_affine_fields_have_the_drawn_rotation_and_scale():
    field = generators.random_affine_fields(tf.random.Generator.from_seed(2), 200, 33, 33,
                                            rotation=10.0, scale=0.2).numpy()
    # The map p -> p + u(p) is affine about the centre: its matrix is the field's slope plus one.
    rows = (field[:, 20, 16] - field[:, 12, 16]) / 8.0 + np.array([1.0, 0.0])
    cols = (field[:, 16, 20] - field[:, 16, 12]) / 8.0 + np.array([0.0, 1.0])
    matrix = np.stack([rows, cols], axis=-1)  # columns: images of the unit row / column steps
    factors = np.linalg.norm(matrix, axis=1)
    assert factors.min() >= 0.8 - 1e-4 and factors.max() <= 1.2 + 1e-4
    angles = np.degrees(np.arctan2(matrix[:, 1, 0], matrix[:, 0, 0]))
    assert np.abs(angles).max() <= 10.0 + 1e-3 and np.abs(angles).max() > 5.0
    np.testing.assert_allclose(field[:, 16, 16], 0.0, atol=1e-4)  # the centre stays (no shift)


def test_rotating_a_centred_disk_keeps_it_and_shifting_moves_it():
    disk = np.stack([_disk(33, 10)] * 8)
    rotated = generators.augment_masks(tf.constant(disk), tf.random.Generator.from_seed(3), 2,
                                       rotation=45.0).numpy()
    assert np.mean(rotated != disk) < 0.01
    assert set(np.unique(rotated)) <= {0, 1}
    shifted = generators.augment_masks(tf.constant(disk), tf.random.Generator.from_seed(3), 2, shift=0.2).numpy()
    centres = np.array([np.argwhere(item).mean(axis=0) for item in shifted])
    assert np.abs(centres - 16.0).max() > 2.0
    np.testing.assert_allclose(shifted.sum(axis=(1, 2)), disk.sum(axis=(1, 2)), rtol=0.05)
