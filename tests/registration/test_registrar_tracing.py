"""Several models in one process (evaluate, segment with many methods) must not retrace warp steps."""

import logging

import keras
import numpy as np
import pytest

from acregnet_cli.registration import Registrar
from acregnet_cli.registration.engines import (
    SharedStepRetracingFilter,
    TensorFlowOps,
    _shared_steps,
)
from acregnet_cli.tf.networks import vector_cnn


@pytest.mark.slow
def test_many_models_share_the_warp_steps_and_do_not_warn(caplog):
    rng = np.random.default_rng(0)
    images = rng.random((3, 96, 96)).astype(np.float32)
    mask = (images[0] > 0.5).astype(np.uint8)
    pairs = [(images[0], images[1], mask), (images[1], images[2], mask)]
    resize, warp_stacks, warp_labels = _shared_steps(True)
    before = None
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        # Images of many sizes in one process (as earlier tests, or a folder of
        # radiographs of mixed sizes) trace the shared steps once per size: by design,
        # and not to be reported as retracing.
        keras.utils.set_random_seed(0)
        sizes = Registrar(vector_cnn(64), 64, keep_onehot=False)
        for side in (40, 48, 56, 72, 80, 88):
            other = rng.random((2, side, side)).astype(np.float32)
            sizes.register_many([(other[0], other[1], (other[0] > 0.5).astype(np.uint8))])
        for seed in range(7):
            keras.utils.set_random_seed(seed)
            registrar = Registrar(vector_cnn(64), 64, keep_onehot=False)
            results = registrar.register_many(pairs) + registrar.register_many(pairs[:1])
            assert len(results) == 3 and results[0].warped.shape == (96, 96)
            counts = (resize.experimental_get_tracing_count(), warp_labels.experimental_get_tracing_count())
            if before is None:
                before = counts
            # Two batch shapes traced by the first model; later models reuse them.
            assert counts == before
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]


def test_each_model_gets_its_own_network_call():
    keras.utils.set_random_seed(0)
    first, second = TensorFlowOps(vector_cnn(64)), TensorFlowOps(vector_cnn(64))
    pair = np.random.default_rng(1).random((1, 64, 64, 2)).astype(np.float32)
    assert not np.allclose(first.predict(pair), second.predict(pair))


def _record(message):
    return logging.LogRecord("tensorflow", logging.WARNING, __file__, 1, message, None, None)


def test_only_the_shared_steps_retracing_warning_is_dropped():
    keep = SharedStepRetracingFilter().filter
    template = "6 out of the last 9 calls to <function {} at 0x7f> triggered tf.function retracing."
    for name in ("_resize_fields_graph", "_warp_fields_graph", "_warp_labels_graph"):
        assert not keep(_record(template.format(name)))
    assert keep(_record(template.format("_call_model")))
    assert keep(_record("some other warning about <function _warp_labels_graph at 0x7f>"))


def test_the_small_warp_is_one_graph_for_every_shape_and_equals_the_eager_warp():
    # corpus and segment warp many small batches (alignment, multi-pass composition);
    # op-by-op dispatch cost them 6-9 ms a call, so the warp runs as one graph, traced once.
    from acregnet_cli.registration.engines import _compiled_warp
    from acregnet_cli.tf.ops import warp_bilinear

    ops, rng = TensorFlowOps(vector_cnn(64)), np.random.default_rng(2)
    before = _compiled_warp().experimental_get_tracing_count()
    for shape in ((1, 64, 64, 1), (5, 64, 64, 2), (3, 40, 56, 4)):
        image = rng.random(shape).astype(np.float32)
        field = (rng.standard_normal(shape[:3] + (2,)) * 3).astype(np.float32)
        np.testing.assert_allclose(ops.warp(image, field), warp_bilinear(image, field).numpy(), atol=1e-6)
    assert _compiled_warp().experimental_get_tracing_count() - before <= 1
