"""The two engines side by side: every operation of acregnet_cli.tf.ops has a NumPy twin
of the same name in acregnet_cli.np.ops, and one table checks that they agree."""

import numpy as np
import pytest

from acregnet_cli.np import ops as np_ops
from acregnet_cli.tf import ops as tf_ops

RNG = np.random.RandomState(0)


def images(*shape):
    return RNG.rand(*shape).astype(np.float32)


def field(*shape, scale):
    return ((RNG.rand(*shape) - 0.5) * scale).astype(np.float32)


def smooth_velocity(amplitude):
    from scipy import ndimage

    noise = RNG.standard_normal((1, 48, 48, 2))
    smooth = np.stack([ndimage.gaussian_filter(noise[0, ..., c], 6) for c in range(2)], axis=-1)[None]
    return (smooth / np.abs(smooth).max() * amplitude).astype(np.float32)


labels = RNG.randint(0, 4, (2, 24, 20)).astype(np.uint8)
# (operation, arguments, absolute tolerance): the same call on both engines.
CASES = [
    ("resize_images", (images(2, 256, 256, 1), 64, "legacy"), 1e-5),
    ("resize_images", (images(2, 256, 256, 1), 64, "modern"), 1e-5),
    ("resize_images", (images(1, 64, 64, 2), 256, "legacy"), 1e-5),
    ("resize_images", (images(1, 64, 64, 2), 256, "modern"), 1e-5),
    ("resize_images", (images(1, 90, 120, 3), (64, 50), "modern"), 1e-5),
    ("resize_field", (field(2, 64, 64, 2, scale=8), 256, "legacy"), 1e-4),
    ("resize_field", (field(2, 64, 64, 2, scale=8), (200, 256), "modern"), 1e-4),
    ("warp_bilinear", (images(2, 64, 64, 4), field(2, 64, 64, 2, scale=8)), 1e-5),
    ("warp_bilinear", (images(2, 64, 64, 1), field(2, 64, 64, 2, scale=200)), 1e-5),  # far outside: clamped
    ("warp_labels", (images(2, 24, 20), labels, field(2, 24, 20, 2, scale=8), 5), 1e-5),
    ("integrate_velocity", (smooth_velocity(6.0), 7), 1e-4),
    ("integrate_velocity", (smooth_velocity(2.0), 0), 0.0),
    ("jacobian_determinant", (field(2, 24, 20, 2, scale=3),), 1e-4),
]


def test_the_engines_offer_the_same_operations():
    public = lambda module: {name for name in dir(module) if not name.startswith("_") and callable(getattr(module, name))
                             and getattr(getattr(module, name), "__module__", "") == module.__name__}
    # resize_field_by_matrices is TensorFlow's fast path of resize_field; interpolation_matrix
    # is the NumPy helper both engines build it from.
    assert public(tf_ops) - {"resize_field_by_matrices", "check_steps"} == \
        public(np_ops) - {"interpolation_matrix"}


@pytest.mark.parametrize("name,arguments,tolerance", CASES,
                         ids=[f"{name}-{i}" for i, (name, _, _) in enumerate(CASES)])
def test_tensorflow_and_numpy_agree(name, arguments, tolerance):
    expected = getattr(tf_ops, name)(*arguments)
    got = getattr(np_ops, name)(*arguments)
    expected, got = (expected if isinstance(expected, tuple) else (expected,)), (got if isinstance(got, tuple) else (got,))
    assert len(expected) == len(got)
    for a, b in zip(expected, got):
        a = np.asarray(a)
        assert a.shape == np.shape(b) and np.abs(a).max() > 0
        if a.dtype.kind in "ui":
            assert np.mean(a != b) < 1e-3  # labels: float rounding may flip an exact tie
        else:
            np.testing.assert_allclose(b, a, atol=tolerance)


def test_the_folding_share_agrees_between_engines():
    from acregnet_cli.fields import folding_fraction, jacobian_determinant
    from acregnet_cli.registration.engines import folding_fractions_tf

    fields = RNG.normal(0, 0.8, (3, 9, 7, 2)).astype(np.float32)  # rough enough to fold in places
    fields[1] = 0.0  # identity: no folding
    expected = [folding_fraction(f) for f in fields]
    assert expected[1] == 0.0 and 0.0 < expected[0] < 1.0
    np.testing.assert_allclose(folding_fractions_tf(fields).numpy(), expected, atol=1e-7)
    # A fold by hand: columns mapped backwards (x -> -x) everywhere.
    flipped = np.zeros((5, 5, 2), np.float32)
    flipped[..., 1] = -2.0 * np.arange(5)[None, :]
    assert np.all(jacobian_determinant(flipped) < 0)
    assert float(folding_fractions_tf(flipped[None])[0]) == 1.0
