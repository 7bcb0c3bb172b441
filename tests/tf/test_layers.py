"""Warp and resize: known answers, gradients, bad shapes."""

import numpy as np
import pytest
import tensorflow as tf

from acregnet_cli.tf.layers import BilinearWarp
from acregnet_cli.tf.ops import (
    resize_field,
    resize_field_by_matrices,
    resize_images,
    warp_bilinear,
    warp_labels,
)


def random_batch(shape, seed=0):
    return np.random.RandomState(seed).rand(*shape).astype(np.float32)


def test_zero_field_returns_input_any_batch_size_channels():
    image = random_batch((3, 5, 7, 4))
    field = np.zeros((3, 5, 7, 2), np.float32)
    np.testing.assert_allclose(warp_bilinear(image, field).numpy(), image, atol=1e-7)


def test_integer_shift_along_columns_and_rows():
    image = random_batch((1, 6, 8, 1))
    field = np.zeros((1, 6, 8, 2), np.float32)
    field[..., 1] = 1.0  # sample one column to the right
    warped = warp_bilinear(image, field).numpy()
    np.testing.assert_allclose(warped[:, :, :-1], image[:, :, 1:], atol=1e-6)
    np.testing.assert_allclose(warped[:, :, -1], image[:, :, -1], atol=1e-6)  # border clamp
    field = np.zeros((1, 6, 8, 2), np.float32)
    field[..., 0] = -2.0  # two rows up
    warped = warp_bilinear(image, field).numpy()
    np.testing.assert_allclose(warped[:, 2:], image[:, :-2], atol=1e-6)
    np.testing.assert_allclose(warped[:, 0], image[:, 0], atol=1e-6)


def test_half_pixel_shift_averages_neighbours():
    image = random_batch((2, 4, 4, 2))
    field = np.zeros((2, 4, 4, 2), np.float32)
    field[..., 0] = 0.5
    warped = warp_bilinear(image, field).numpy()
    np.testing.assert_allclose(warped[:, :-1], 0.5 * (image[:, :-1] + image[:, 1:]), atol=1e-6)


def test_far_outside_samples_are_clamped_to_border():
    image = random_batch((1, 4, 4, 1))
    field = np.full((1, 4, 4, 2), -100.0, np.float32)
    np.testing.assert_allclose(warp_bilinear(image, field).numpy(), image[:, :1, :1].repeat(4, 1).repeat(4, 2))


def test_gradients_exist_and_are_finite():
    image = tf.Variable(random_batch((2, 8, 8, 1)))
    field = tf.Variable(random_batch((2, 8, 8, 2), seed=1) * 2 - 1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(tf.square(warp_bilinear(image, field)))
    grad_image, grad_field = tape.gradient(loss, [image, field])
    assert np.all(np.isfinite(grad_image.numpy())) and np.abs(grad_image.numpy()).sum() > 0
    assert np.all(np.isfinite(grad_field.numpy())) and np.abs(grad_field.numpy()).sum() > 0


def test_field_gradient_matches_finite_difference():
    image = random_batch((1, 6, 6, 1))
    field = np.full((1, 6, 6, 2), 0.3, np.float32)
    field_var = tf.Variable(field)
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(warp_bilinear(image, field_var) ** 2)
    analytic = tape.gradient(loss, field_var).numpy()[0, 2, 3, 1]
    bumped = field.copy()
    bumped[0, 2, 3, 1] += 1e-2
    numeric = (tf.reduce_sum(warp_bilinear(image, bumped) ** 2) - loss).numpy() / 1e-2
    assert abs(analytic - numeric) < 1e-2


def test_keras_layer_wraps_the_function():
    image = random_batch((1, 8, 8, 3))
    field = random_batch((1, 8, 8, 2))
    np.testing.assert_allclose(BilinearWarp()([image, field]).numpy(), warp_bilinear(image, field).numpy())


@pytest.mark.parametrize("image_shape,field_shape", [
    ((1, 8, 8, 1), (1, 8, 8, 3)),
    ((1, 8, 8, 1), (1, 4, 4, 2)),
    ((8, 8, 1), (8, 8, 2)),
])
def test_bad_shapes_raise(image_shape, field_shape):
    with pytest.raises(ValueError):
        warp_bilinear(np.zeros(image_shape, np.float32), np.zeros(field_shape, np.float32))


def legacy_bilinear_reference(image, out):
    """TF1 resize_bilinear(align_corners=False, half_pixel_centers=False) in NumPy."""
    size = image.shape[0]
    scale = size / out
    coords = np.arange(out) * scale
    low = np.floor(coords).astype(int)
    high = np.minimum(low + 1, size - 1)
    frac = coords - low
    rows = image[low] * (1 - frac)[:, None] + image[high] * frac[:, None]
    return rows[:, low] * (1 - frac)[None] + rows[:, high] * frac[None]


def test_legacy_resize_matches_tf1_formula():
    image = random_batch((256, 256))
    ours = resize_images(image[None, ..., None], 64, "legacy").numpy()[0, ..., 0]
    np.testing.assert_allclose(ours, legacy_bilinear_reference(image, 64), atol=1e-6)


def test_resize_field_scales_displacements():
    field = np.ones((1, 64, 64, 2), np.float32)
    for method in ("legacy", "modern"):
        np.testing.assert_allclose(resize_field(field, 256, method).numpy(), 4.0, atol=1e-6)


@pytest.mark.parametrize("method", ["legacy", "modern"])
@pytest.mark.parametrize("sizes", [((64, 64), 256), ((256, 256), 64), ((50, 31), (77, 40))])
def test_resize_field_by_matrices_matches_the_resize_kernel(method, sizes):
    shape, size = sizes
    field = tf.constant(np.random.RandomState(1).normal(0, 5, (2,) + shape + (2,)).astype(np.float32))
    expected = resize_field(field, size, method).numpy()
    np.testing.assert_allclose(resize_field_by_matrices(field, size, method).numpy(), expected, rtol=1e-5, atol=1e-4)
    compiled = tf.function(lambda f: resize_field_by_matrices(f, size, method), jit_compile=True)
    np.testing.assert_allclose(compiled(field).numpy(), expected, rtol=1e-5, atol=1e-4)


def test_resize_field_by_matrices_needs_static_size():
    traced = tf.function(lambda f: resize_field_by_matrices(f, 8, "modern"),
                         input_signature=[tf.TensorSpec([1, None, None, 2], tf.float32)])
    with pytest.raises(ValueError, match="static"):
        traced.get_concrete_function()


def test_warp_labels_gives_the_argmax_of_the_warped_onehot_mask():
    rng = np.random.RandomState(2)
    image = rng.rand(3, 24, 20).astype(np.float32)
    labels = rng.randint(0, 4, (3, 24, 20)).astype(np.uint8)
    field = rng.normal(0, 4, (3, 24, 20, 2)).astype(np.float32)
    field[1] = 0.5  # every sample halfway between four pixels: ties between classes
    field[2, :, :, 0] = 30.0  # beyond the border: clamped
    warped, warped_labels = warp_labels(image, labels, field, 5)  # one class absent
    onehot = np.eye(5, dtype=np.float32)[labels]
    stack = np.concatenate([image[..., None], onehot], axis=-1)
    reference = warp_bilinear(stack, field).numpy()
    np.testing.assert_allclose(warped.numpy(), reference[..., 0], atol=1e-6)
    assert warped_labels.dtype == tf.uint8
    np.testing.assert_array_equal(warped_labels.numpy(), np.argmax(reference[..., 1:], axis=-1))
    # Zero field: the labels come back unchanged.
    _, same = warp_labels(image, labels, np.zeros_like(field), 4)
    np.testing.assert_array_equal(same.numpy(), labels)


def test_warp_labels_rejects_bad_shapes():
    with pytest.raises(ValueError, match="warp_labels needs"):
        warp_labels(np.zeros((1, 8, 8, 1), np.float32), np.zeros((1, 8, 8), np.uint8), np.zeros((1, 8, 8, 2)), 2)


def test_unknown_resize_method_raises():
    with pytest.raises(ValueError):
        resize_images(np.zeros((1, 8, 8, 1), np.float32), 4, "cubic")


def test_fused_batch_norm_matches_keras_batch_norm():
    import keras

    from acregnet_cli.tf.layers import FusedBatchNormalization

    rng = np.random.RandomState(0)
    x = tf.constant(rng.normal(2.0, 3.0, (4, 6, 5, 3)).astype(np.float32))
    reference = keras.layers.BatchNormalization(epsilon=1e-5, momentum=0.9)
    fused = FusedBatchNormalization(epsilon=1e-5, momentum=0.9)
    reference.build(x.shape)
    fused.build(x.shape)
    weights = [rng.uniform(0.5, 1.5, 3), rng.normal(0, 1, 3), rng.normal(0, 1, 3), rng.uniform(0.5, 2, 3)]
    reference.set_weights([w.astype(np.float32) for w in weights])
    fused.set_weights([w.astype(np.float32) for w in weights])
    outputs, gradients = [], []
    for layer in (reference, fused):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * tf.range(3, dtype=tf.float32))
        gradients.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
        outputs.append(y)
    np.testing.assert_allclose(outputs[1], outputs[0], atol=1e-5)
    for got, want in zip(gradients[1], gradients[0]):
        np.testing.assert_allclose(got, want, atol=1e-4)
    # Moving statistics: the biased batch variance, as Keras tracks it.
    for got, want in zip(fused.get_weights()[2:], reference.get_weights()[2:]):
        np.testing.assert_allclose(got, want, rtol=1e-5)
    assert not np.allclose(fused.get_weights()[3], weights[3])
    np.testing.assert_allclose(fused(x, training=False), reference(x, training=False), atol=1e-5)


def test_fused_batch_norm_files_are_keras_batch_norm_files(tmp_path):
    import keras

    from acregnet_cli.tf.layers import FusedBatchNormalization

    def model(norm):
        inputs = keras.Input((4, 4, 3))
        return keras.Model(inputs, norm(name="bn")(keras.layers.Conv2D(3, 3, name="conv")(inputs)))

    fused, plain = model(FusedBatchNormalization), model(keras.layers.BatchNormalization)
    rng = np.random.RandomState(1)
    fused.set_weights([rng.normal(size=w.shape).astype(np.float32) for w in fused.get_weights()])
    fused.save_weights(tmp_path / "fused.weights.h5")
    plain.load_weights(tmp_path / "fused.weights.h5")  # would raise on different group names
    for got, want in zip(plain.get_weights(), fused.get_weights()):
        np.testing.assert_array_equal(got, want)
