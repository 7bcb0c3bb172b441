"""Architectures: the original release's variables and shapes."""

import numpy as np
import pytest

from acregnet_cli.tf.networks import VECTOR_CNN_LAYERS, mask_autoencoder, vector_cnn

# (layer, input channels, output channels) of the original VectorCNN checkpoint.
ORIGINAL_VECTOR_CNN = [
    ("conv1_a", 2, 16), ("conv1_b", 16, 16), ("conv2_a", 16, 32), ("conv2_b", 32, 32),
    ("conv3_a", 32, 64), ("conv3_b", 64, 64), ("conv4_a", 64, 128), ("conv4_b", 128, 128),
    ("deconv4", 128, 64), ("conv5_a", 64, 64), ("conv5_b", 64, 64),
    ("deconv5", 64, 32), ("conv6_a", 32, 32), ("conv6_b", 32, 32),
    ("deconv6", 32, 16), ("conv7_a", 16, 16), ("conv7_b", 16, 16), ("conv_out", 16, 2),
]


def test_vector_cnn_has_the_original_variables():
    model = vector_cnn(64)
    assert [name for name, _ in VECTOR_CNN_LAYERS] == [name for name, _, _ in ORIGINAL_VECTOR_CNN]
    for name, cin, cout in ORIGINAL_VECTOR_CNN:
        conv = model.get_layer(name)
        assert len(conv.weights) == 1, f"{name} must have no bias"
        assert tuple(conv.kernel.shape) == (3, 3, cin, cout)
        bn = model.get_layer(f"{name}_bn")
        assert bn.epsilon == 1e-5
        assert [tuple(w.shape) for w in bn.weights] == [(cout,)] * 4


def test_vector_cnn_maps_a_pair_to_a_two_channel_field():
    model = vector_cnn(64)
    pair = np.random.RandomState(0).rand(3, 64, 64, 2).astype(np.float32)
    field = model(pair, training=False).numpy()
    assert field.shape == (3, 64, 64, 2)
    assert np.all(np.isfinite(field))


def test_vector_cnn_dropout_only_in_training():
    model = vector_cnn(64, dropout=0.5)
    pair = np.random.RandomState(0).rand(1, 64, 64, 2).astype(np.float32)
    np.testing.assert_array_equal(model(pair, training=False).numpy(), model(pair, training=False).numpy())


def test_vector_cnn_rejects_size_not_divisible_by_8():
    with pytest.raises(ValueError):
        vector_cnn(60)


def test_autoencoder_shapes_follow_the_original():
    encoder, decoder, autoencoder = mask_autoencoder(64, num_classes=4, code_size=32)
    kernels = {layer.name: tuple(layer.kernel.shape) for layer in encoder.layers if hasattr(layer, "kernel")}
    assert kernels == {
        "conv1_a": (3, 3, 4, 16), "conv1_b": (3, 3, 16, 16), "conv2_a": (3, 3, 16, 32),
        "conv2_b": (3, 3, 32, 32), "conv3": (3, 3, 32, 1), "fc1": (64, 32),
    }
    assert [encoder.get_layer(n).strides for n in ("conv1_a", "conv1_b", "conv2_a", "conv2_b", "conv3")] == [
        (2, 2), (1, 1), (2, 2), (1, 1), (2, 2)]
    masks = np.eye(4, dtype=np.float32)[np.random.RandomState(0).randint(0, 4, (2, 64, 64))]
    codes = encoder(masks, training=False)
    assert codes.shape == (2, 32)
    assert decoder(codes, training=False).shape == (2, 64, 64, 4)
    assert autoencoder(masks, training=False).shape == (2, 64, 64, 4)
    decoder_kernels = {layer.name: tuple(layer.kernel.shape) for layer in decoder.layers if hasattr(layer, "kernel")}
    assert decoder_kernels == {
        "fc2": (32, 64), "deconv4": (3, 3, 1, 32), "conv4": (3, 3, 32, 32), "deconv5": (3, 3, 32, 16),
        "conv5": (3, 3, 16, 16), "deconv6": (3, 3, 16, 16), "conv_out": (3, 3, 16, 4),
    }
    assert decoder.get_layer("conv_out").use_bias and not decoder.get_layer("conv4").use_bias
