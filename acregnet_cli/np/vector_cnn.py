"""The VectorCNN's inference in NumPy, for registering without starting TensorFlow.

TensorFlow's start-up costs seconds; a single registration with the network at
64x64 costs milliseconds. This module reads the weights file that Keras wrote
(HDF5, with h5py) and evaluates the same network with NumPy: 3x3 'same'
convolutions as one matrix product over shifted copies, batch norm with its moving
statistics, ELU, 2x2 average pooling, nearest upsampling and additive skips.

Keras 3 stores a functional model's weights under ``layers/<class name>[_<i>]``,
numbered by the layers' order in the model; the VectorCNN's order is that of
:data:`networks.VECTOR_CNN_LAYERS` (a test checks both facts against Keras).
"""

import numpy as np

from acregnet_cli.architecture import BN_EPSILON, VECTOR_CNN_LAYERS
from acregnet_cli.np.ops import integrate_velocity


def _stored_name(kind, index):
    return kind if index == 0 else f"{kind}_{index}"


def read_vector_cnn_weights(path):
    """{layer: kernel} and {layer: (gamma, beta, mean, variance)} from a VectorCNN weights file."""
    import h5py

    kernels, norms = {}, {}
    channels = 2  # the (moving, fixed) pair; each layer takes what the one before gave
    with h5py.File(path, "r") as handle:
        for index, (name, width) in enumerate(VECTOR_CNN_LAYERS):
            conv = handle["layers"][_stored_name("conv2d", index)]["vars"]
            norm = handle["layers"][_stored_name("batch_normalization", index)]["vars"]
            # Shapes from the file's metadata before any data: a kernel declaring gigabytes
            # is refused, not read.
            if conv["0"].shape != (3, 3, channels, width) or any(norm[str(i)].shape != (width,) for i in range(4)):
                raise ValueError(f"layer {name} has kernel {conv['0'].shape}, expected {(3, 3, channels, width)}")
            kernels[name] = np.asarray(conv["0"], dtype=np.float32)
            norms[name] = tuple(np.asarray(norm[str(i)], dtype=np.float32) for i in range(4))
            if kernels[name].shape != (3, 3, channels, width) or any(v.shape != (width,) for v in norms[name]):
                raise ValueError(f"layer {name} has kernel {kernels[name].shape}, expected {(3, 3, channels, width)}")
            if not all(np.all(np.isfinite(v)) for v in (kernels[name],) + norms[name]):
                raise ValueError(f"layer {name} holds NaN or infinite weights")
            channels = width
    return kernels, norms


def _conv3x3(x, kernel):
    batch, height, width, channels = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    patches = np.concatenate([padded[:, dy:dy + height, dx:dx + width, :] for dy in range(3) for dx in range(3)],
                             axis=-1)
    return patches.reshape(-1, 9 * channels) @ kernel.reshape(9 * channels, -1)


class LiteVectorCNN:
    """NumPy VectorCNN; ``model(pair)`` maps (B, S, S, 2) to the (B, S, S, 2) field.

    ``integration_steps`` > 0 integrates the network's output as a velocity field
    (:func:`numpy_ops.integrate_velocity`), as ``networks.vector_cnn`` does.
    """

    def __init__(self, kernels, norms, integration_steps=0):
        self.kernels = kernels
        self.integration_steps = integration_steps
        self.scales, self.shifts = {}, {}
        for name, (gamma, beta, mean, variance) in norms.items():
            scale = gamma / np.sqrt(variance + BN_EPSILON)
            self.scales[name], self.shifts[name] = scale, beta - mean * scale

    @classmethod
    def from_weights(cls, path, integration_steps=0):
        return cls(*read_vector_cnn_weights(path), integration_steps=integration_steps)

    def _conv_bn(self, x, name):
        out = _conv3x3(x, self.kernels[name]).reshape(x.shape[:3] + (-1,))
        return out * self.scales[name] + self.shifts[name]

    @staticmethod
    def _elu(x):
        return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))

    def __call__(self, pair, integrate=True):
        x = np.asarray(pair, dtype=np.float32)
        skips = []
        for level in (1, 2, 3):
            x = self._elu(self._conv_bn(x, f"conv{level}_a"))
            x = self._conv_bn(x, f"conv{level}_b")
            skips.append(x)
            x = self._elu(x)
            b, h, w, c = x.shape
            x = x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
        x = self._elu(self._conv_bn(self._elu(self._conv_bn(x, "conv4_a")), "conv4_b"))
        for level in (5, 6, 7):
            x = x.repeat(2, axis=1).repeat(2, axis=2)
            x = self._elu(self._conv_bn(x, f"deconv{level - 1}") + skips[7 - level])
            x = self._elu(self._conv_bn(self._elu(self._conv_bn(x, f"conv{level}_a")), f"conv{level}_b"))
        field = self._conv_bn(x, "conv_out")
        return integrate_velocity(field, self.integration_steps) if self.integration_steps and integrate else field
