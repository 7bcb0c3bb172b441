"""What a warped mask holds where the field samples outside the moving image."""

import numpy as np
import pytest

from acregnet_cli.errors import InputError
from acregnet_cli.evaluation import Method, method_fingerprint, parse_method
from acregnet_cli.fields import sampled_outside
from acregnet_cli.registration import Registrar
from acregnet_cli.registration.engines import NumpyOps, TensorFlowOps
from acregnet_cli.resources import data_dir

SIDE = 32


class ShiftDown:
    """A stand-in network: every pixel samples the moving image 4 rows further down."""

    def __call__(self, pair, training=False):
        import tensorflow as tf

        if isinstance(pair, np.ndarray):
            return np.broadcast_to(np.float32([4, 0]), pair.shape[:3] + (2,)).copy()
        return tf.broadcast_to(tf.constant([4.0, 0.0]), tf.concat([tf.shape(pair)[:3], [2]], 0))


def test_sampled_outside_marks_positions_beyond_the_border_pixels():
    field = np.zeros((8, 6, 2), np.float32)
    assert not sampled_outside(field).any()
    field[..., 0] = 0.4  # within the last row's outer half: still inside
    assert not sampled_outside(field).any()
    field[..., 0] = 1.0
    expected = np.zeros((8, 6), bool)
    expected[-1] = True
    np.testing.assert_array_equal(sampled_outside(field), expected)
    field[..., 0], field[..., 1] = 0.0, -2.0
    expected = np.zeros((8, 6), bool)
    expected[:, :2] = True
    np.testing.assert_array_equal(sampled_outside(field), expected)


def pair():
    """A moving mask touching the bottom border (rows 16-31, columns 8-23)."""
    rng = np.random.RandomState(0)
    mask = np.zeros((SIDE, SIDE), np.uint8)
    mask[16:, 8:24] = 1
    return rng.rand(SIDE, SIDE).astype(np.float32), rng.rand(SIDE, SIDE).astype(np.float32), mask


@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
@pytest.mark.parametrize("keep_onehot", [True, False])
def test_a_mask_on_the_border_is_drawn_out_with_edge_and_not_with_background(engine, keep_onehot):
    moving, fixed, mask = pair()
    results = {}
    for outside in ("edge", "background"):
        network = ShiftDown()
        ops = NumpyOps(network) if engine == "numpy" else TensorFlowOps(network)
        registrar = Registrar(network, SIDE, ops=ops, keep_onehot=keep_onehot, mask_outside=outside)
        results[outside] = registrar.register(moving, fixed, mask)
    # Rows 12-27 sample rows 16-31 of the mask; rows 28-31 sample rows 32-35, outside.
    expected = np.zeros_like(mask)
    expected[12:28, 8:24] = 1
    np.testing.assert_array_equal(results["background"].warped_mask, expected)
    expected[28:, 8:24] = 1  # the clamp repeats the border row
    np.testing.assert_array_equal(results["edge"].warped_mask, expected)
    np.testing.assert_array_equal(results["edge"].warped, results["background"].warped)
    if keep_onehot:
        onehot = results["background"].warped_onehot
        np.testing.assert_allclose(onehot[28:], np.broadcast_to([1.0, 0.0], (4, SIDE, 2)))
        np.testing.assert_allclose(results["edge"].warped_onehot[28:, 8:24], np.broadcast_to([0.0, 1.0], (4, 16, 2)))


def test_finish_many_of_a_prepared_pair_clears_outside_too():
    moving, fixed, mask = pair()
    network = ShiftDown()
    registrar = Registrar(network, SIDE, ops=NumpyOps(network), mask_outside="background")
    prepared = registrar.prepare(moving, fixed, mask)
    result = registrar.finish_many([prepared], [np.broadcast_to(np.float32([4, 0]), (SIDE, SIDE, 2))])[0]
    assert not result.warped_mask[28:].any() and result.warped_mask[12:28, 8:24].all()


def test_bad_mask_outside_is_refused():
    network = ShiftDown()
    with pytest.raises(InputError, match="mask_outside"):
        Registrar(network, SIDE, ops=NumpyOps(network), mask_outside="zero")


def test_method_option_parses_in_any_order_and_changes_the_fingerprint():
    bundled = data_dir() / "models" / "jsrt-paper"
    plain = parse_method("ac=jsrt-paper")
    assert plain == Method("ac", "model", bundled, 1, "edge")
    assert parse_method("ac=jsrt-paper,outside=background") == Method("ac", "model", bundled, 1, "background")
    assert parse_method("ac=jsrt-paper, outside = background, passes=2") == Method("ac", "model", bundled, 2, "background")
    assert parse_method("ac=jsrt-paper,passes=2,outside=edge") == Method("ac", "model", bundled, 2, "edge")
    for spec, message in (("ac=jsrt-paper,outside=zero", "outside must be"), ("ac=jsrt-paper,passes=2,passes=3", "twice"),
                          ("ac=jsrt-paper,outside=", "outside must be")):
        with pytest.raises(InputError, match=message):
            parse_method(spec)
    edge, background = method_fingerprint(plain), method_fingerprint(parse_method("ac=jsrt-paper,outside=background"))
    assert edge != background
    assert edge == method_fingerprint(parse_method("ac=jsrt-paper,outside=edge"))
