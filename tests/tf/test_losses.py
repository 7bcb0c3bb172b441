"""Loss terms against known values."""

import numpy as np
import pytest
import tensorflow as tf

from acregnet_cli.tf import losses


def images(seed=0, shape=(3, 16, 16, 1)):
    return np.random.RandomState(seed).rand(*shape).astype(np.float32)


def test_ncc_of_image_with_itself_is_one():
    a = images()
    assert losses.ncc(a, a).numpy() == pytest.approx(1.0, abs=1e-3)
    assert losses.ncc_loss(a, a).numpy() == pytest.approx(-1.0, abs=1e-3)


def test_ncc_invariant_to_affine_intensity_change():
    a, b = images(0), images(1)
    base = losses.ncc(a, b).numpy()
    assert losses.ncc(3.0 * a + 0.5, b).numpy() == pytest.approx(base, abs=1e-4)
    assert losses.ncc(a, 0.2 * b - 1.0).numpy() == pytest.approx(base, abs=1e-4)
    assert losses.ncc(-a, a).numpy() == pytest.approx(-1.0, abs=1e-3)


def test_ncc_is_mean_of_per_pair_pearson_correlations():
    a, b = images(0), images(1)
    expected = np.mean([np.corrcoef(x.ravel(), y.ravel())[0, 1] for x, y in zip(a, b)])
    assert losses.ncc(a, b).numpy() == pytest.approx(expected, abs=1e-3)


def test_total_variation_constant_field_is_zero_and_ramp_known():
    assert losses.total_variation(np.full((2, 8, 8, 2), 3.0, np.float32)).numpy() == 0.0
    ramp = np.zeros((1, 4, 5, 2), np.float32)
    ramp[..., 0] = np.arange(5)[None, :]  # +1 per column in channel 0
    # 4 rows x 4 horizontal differences of 1, nothing else.
    assert losses.total_variation(ramp).numpy() == pytest.approx(16.0)


def test_total_variation_is_a_per_image_sum_averaged_over_batch():
    field = np.random.RandomState(0).rand(4, 8, 8, 2).astype(np.float32)
    per_image = np.abs(np.diff(field, axis=1)).sum((1, 2, 3)) + np.abs(np.diff(field, axis=2)).sum((1, 2, 3))
    assert losses.total_variation(field).numpy() == pytest.approx(per_image.mean(), rel=1e-5)


def onehot(labels, k):
    return np.eye(k, dtype=np.float32)[labels]


def test_release_cross_entropy_takes_warped_mask_as_logits():
    fixed = onehot(np.array([[[0, 1], [2, 1]]]), 3)
    warped = fixed.copy()
    value = losses.mask_cross_entropy(warped, fixed, "release").numpy()
    # A perfect match still costs -log(e / (e + 2)) per pixel under the release form.
    assert value == pytest.approx(-np.log(np.e / (np.e + 2)), rel=1e-5)


def test_textbook_cross_entropy_is_zero_for_a_perfect_match_and_known_otherwise():
    fixed = onehot(np.array([[[0, 1], [2, 1]]]), 3)
    assert losses.mask_cross_entropy(fixed, fixed, "textbook").numpy() == pytest.approx(0.0, abs=1e-6)
    warped = np.full_like(fixed, 0.25)
    warped[..., 0] = 0.5
    expected = -np.mean(np.log(np.sum(warped * fixed, axis=-1)))
    assert losses.mask_cross_entropy(warped, fixed, "textbook").numpy() == pytest.approx(expected, rel=1e-5)


def test_unknown_cross_entropy_form_raises():
    with pytest.raises(ValueError):
        losses.mask_cross_entropy(np.zeros((1, 2, 2, 2)), np.zeros((1, 2, 2, 2)), "focal")


def test_code_distance_is_summed_over_code_and_averaged_over_batch():
    a = np.zeros((2, 32), np.float32)
    b = np.zeros((2, 32), np.float32)
    b[0, :4] = 1.0  # distance 4
    b[1, 0] = 2.0  # distance 4
    assert losses.code_distance(a, b).numpy() == pytest.approx(4.0)


def test_losses_have_gradients():
    a = tf.Variable(images(0))
    b = images(1)
    with tf.GradientTape() as tape:
        value = losses.ncc_loss(a, b)
    gradient = tape.gradient(value, a).numpy()
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).sum() > 0


def test_jacobian_determinant_matches_the_numpy_one_of_folding_fraction():
    from acregnet_cli.fields.jacobian import jacobian_determinant as numpy_determinant

    fields = np.random.RandomState(3).randn(2, 12, 10, 2).astype(np.float32) * 0.8
    ours = losses.jacobian_determinant(tf.constant(fields)).numpy()
    for field, determinant in zip(fields, ours):
        np.testing.assert_allclose(determinant, numpy_determinant(field), rtol=1e-5, atol=1e-5)


def test_folding_penalty_is_zero_without_folds_and_grows_with_them():
    rows = np.arange(16, dtype=np.float32)[None, :, None, None] * np.ones((1, 16, 16, 1), np.float32)
    stretch = np.concatenate([0.5 * rows, np.zeros_like(rows)], axis=-1)   # det 1.5
    squeeze = np.concatenate([-0.95 * rows, np.zeros_like(rows)], axis=-1)  # det 0.05, under the margin
    flip = np.concatenate([-1.5 * rows, np.zeros_like(rows)], axis=-1)      # det -0.5: folded everywhere
    values = [float(losses.folding_penalty(tf.constant(f))) for f in (stretch, squeeze, flip)]
    assert values[0] == 0.0
    assert values[1] == pytest.approx(losses.FOLD_MARGIN - 0.05, abs=1e-6)
    assert values[2] == pytest.approx(losses.FOLD_MARGIN + 0.5, abs=1e-6)


def test_folding_penalty_gradient_unfolds_the_field():
    field = tf.Variable(np.random.RandomState(1).randn(1, 16, 16, 2).astype(np.float32) * 2.0)
    before = float(losses.folding_penalty(field))
    for _ in range(50):
        with tf.GradientTape() as tape:
            penalty = losses.folding_penalty(field)
        field.assign_sub(5.0 * tape.gradient(penalty, field))
    assert before > 0.1
    assert float(losses.folding_penalty(field)) < 0.5 * before


@pytest.mark.slow
def test_train_reg_logs_the_folding_penalty_and_refuses_a_negative_weight(synthetic_dataset, tmp_path):
    import csv

    from click.testing import CliRunner

    from acregnet_cli.cli import main

    root, config = synthetic_dataset
    args = ["train-reg", "--dataset", str(config), "--data-dir", str(root), "--variant", "regnet",
            "--batch-size", "4", "--iterations", "4", "--log-every", "2", "--quiet"]
    bad = CliRunner().invoke(main, [*args, "--lambda-fold", "-1", "-o", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "--lambda-fold must be in [0.0, 1000000.0]" in bad.output
    assert not (tmp_path / "bad").exists()
    result = CliRunner().invoke(main, [*args, "--lambda-fold", "10", "-o", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader((tmp_path / "run" / "log.csv").open()))
    assert [float(row["fold"]) >= 0 for row in rows] == [True, True]
    assert "lambda_fold = 10" in (tmp_path / "run" / "config.toml").read_text()
