"""Several network passes: fields compose, engines agree, real pairs improve."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from acregnet_cli.cli import main
from acregnet_cli.errors import InputError
from acregnet_cli.evaluation import Method, method_fingerprint, parse_method
from acregnet_cli.registration import Registrar
from acregnet_cli.registration.engines import NumpyOps
from acregnet_cli.resources import data_dir

BUNDLED = data_dir() / "models" / "jsrt-paper"


class ConstantShift:
    """A stand-in network that always predicts the same field."""

    def __init__(self, shift):
        self.shift = np.asarray(shift, np.float32)
        self.inputs = []

    def __call__(self, pair):
        self.inputs.append(np.array(pair))
        return np.broadcast_to(self.shift, pair.shape[:3] + (2,)).copy()


@pytest.mark.parametrize("passes", [1, 2, 3])
def test_constant_fields_compose_to_their_sum(passes):
    network = ConstantShift([1.5, -2.0])
    registrar = Registrar(network, 16, ops=NumpyOps(network), passes=passes)
    rng = np.random.RandomState(0)
    moving, fixed = rng.rand(2, 16, 16).astype(np.float32), rng.rand(2, 16, 16).astype(np.float32)
    field = registrar.predict_small(moving, fixed)
    np.testing.assert_allclose(field, np.broadcast_to([1.5 * passes, -2.0 * passes], (2, 16, 16, 2)), atol=1e-5)
    assert len(network.inputs) == passes
    # The second pass sees the moving image warped by the first field, and the fixed image unchanged.
    if passes > 1:
        from acregnet_cli.np.ops import warp_bilinear

        expected = warp_bilinear(moving[..., None], np.broadcast_to(network.shift, (2, 16, 16, 2)))[..., 0]
        np.testing.assert_allclose(network.inputs[1][..., 0], expected, atol=1e-6)
        np.testing.assert_array_equal(network.inputs[1][..., 1], fixed)


def test_second_pass_is_a_composition_not_a_sum():
    """A field varying in space: the composed field warps like the two warps in sequence."""
    from acregnet_cli.np.ops import warp_bilinear

    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32)
    first = np.stack([2.0 * np.sin(xx / 5.0), np.zeros_like(xx)], -1)[None]
    second = np.stack([np.zeros_like(xx), 1.5 * np.cos(yy / 6.0)], -1)[None]

    class TwoFields:
        calls = 0

        def __call__(self, pair):
            self.calls += 1
            return (first if self.calls == 1 else second).copy()

    network = TwoFields()
    composed = Registrar(network, 32, ops=NumpyOps(network), passes=2).predict_small(
        np.zeros((1, 32, 32), np.float32), np.zeros((1, 32, 32), np.float32))
    image = (np.sin(yy / 3.0) + np.cos(xx / 4.0))[None, ..., None].astype(np.float32)
    in_sequence = warp_bilinear(warp_bilinear(image, first), second)
    at_once = warp_bilinear(image, composed)
    inner = (slice(None), slice(4, -4), slice(4, -4))  # away from the clamped border
    assert np.abs(composed - (first + second)).max() > 0.5
    np.testing.assert_allclose(at_once[inner], in_sequence[inner], atol=0.05)


def test_passes_must_be_positive_whole_numbers():
    network = ConstantShift([0, 0])
    for bad in (0, -1, 1.5):
        with pytest.raises(InputError, match="passes"):
            Registrar(network, 16, ops=NumpyOps(network), passes=bad)


def test_two_passes_agree_between_engines():
    from acregnet_cli.models.files import load_vector_cnn, load_vector_cnn_lite

    rng = np.random.RandomState(4)
    moving, fixed = rng.rand(3, 64, 64).astype(np.float32), rng.rand(3, 64, 64).astype(np.float32)
    keras_model, description = load_vector_cnn(BUNDLED)
    lite, _ = load_vector_cnn_lite(BUNDLED)
    tf_field = Registrar(keras_model, 64, passes=2).predict_small(moving, fixed)
    np_field = Registrar(lite, 64, ops=NumpyOps(lite), passes=2).predict_small(moving, fixed)
    one = Registrar(lite, 64, ops=NumpyOps(lite), passes=1).predict_small(moving, fixed)
    assert np.abs(np_field - one).max() > 0.1
    np.testing.assert_allclose(np_field, tf_field, atol=2e-4)


def test_method_spec_passes_and_fingerprint():
    one = parse_method("ac=jsrt-paper")
    two = parse_method("ac2=jsrt-paper, passes=2")
    assert one == Method("ac", "model", BUNDLED, 1) and two.passes == 2 and two.path == BUNDLED
    assert method_fingerprint(one) != method_fingerprint(two)
    assert method_fingerprint(one) == method_fingerprint(Method("other", "model", BUNDLED))
    for bad in ("ac=jsrt-paper,passes=0", "ac=jsrt-paper,passes=two", "ac=jsrt-paper,passes=", "ac=,passes=2"):
        with pytest.raises(InputError):
            parse_method(bad)


def test_register_command_records_the_passes(tmp_path):
    from conftest import synthetic_subject
    from PIL import Image

    paths = []
    for seed in (1, 2):
        image, labels = synthetic_subject(96, np.random.RandomState(seed))
        paths.append(tmp_path / f"s{seed}.png")
        Image.fromarray(image).save(paths[-1])
    outputs = {}
    for passes in (1, 2):
        out = tmp_path / f"out{passes}"
        result = CliRunner().invoke(main, ["register", str(paths[0]), str(paths[1]), "-o", str(out),
                                           "--passes", str(passes)])
        assert result.exit_code == 0, result.output
        outputs[passes] = (json.loads((out / "summary.json").read_text()), np.load(out / "field.npy"))
    assert outputs[1][0]["passes"] == 1 and outputs[2][0]["passes"] == 2
    assert np.abs(outputs[1][1] - outputs[2][1]).max() > 0.05
    bad = CliRunner().invoke(main, ["register", str(paths[0]), str(paths[1]), "-o", str(tmp_path / "x"),
                                    "--passes", "0"])
    assert bad.exit_code == 2


@pytest.mark.slow
def test_two_passes_improve_real_jsrt_pairs(data_root):
    """The extension's claim on the evaluation protocol's first 20 JSRT pairs, bundled model."""
    from acregnet_cli.datasets.config import load_dataset_config
    from acregnet_cli.datasets.layout import load_split
    from acregnet_cli.evaluation import draw_pairs
    from acregnet_cli.metrics import label_map_metrics
    from acregnet_cli.models.files import load_vector_cnn_lite

    config = load_dataset_config("jsrt")
    split = load_split(config, data_root, "test", 256)
    moving, fixed = draw_pairs(len(split), 0)
    lite, description = load_vector_cnn_lite(BUNDLED)
    scores = {}
    for passes in (1, 2):
        registrar = Registrar(lite, 64, resize=description.get("resize", "modern"), ops=NumpyOps(lite),
                              keep_onehot=False, passes=passes)
        results = registrar.register_many([(split.images[m], split.images[f], split.labels[m])
                                           for m, f in zip(moving[:20], fixed[:20])])
        scores[passes] = np.array([
            list(label_map_metrics(r.warped_mask, split.labels[f], config.num_classes, config.spacing(256))[1].values())
            for r, f in zip(results, fixed[:20])])
    dsc1, dsc2 = scores[1][:, 0].mean(), scores[2][:, 0].mean()
    assert dsc2 > dsc1 + 0.001, (dsc1, dsc2)
    assert scores[2][:, 2].mean() < scores[1][:, 2].mean()  # ASSD


def test_fingerprint_follows_the_weights_not_the_labels_or_file_bytes(tmp_path):
    """A run and its bundled copy share cached results; other weights do not."""
    import shutil

    import h5py

    copy = tmp_path / "copy"
    shutil.copytree(BUNDLED, copy)
    description = json.loads((copy / "model.json").read_text())
    description["ae_run"] = "somewhere/else"
    (copy / "model.json").write_text(json.dumps(description))
    # Rewrite the weights file: same arrays, different bytes on disk.
    rewritten = tmp_path / "rewritten.h5"
    with h5py.File(copy / "vector_cnn.weights.h5", "r") as source, h5py.File(rewritten, "w") as target:
        def rewrite(name, item):  # returns None: h5py stops visiting at any other value
            if isinstance(item, h5py.Dataset):
                target.create_dataset(name, data=item[()], chunks=True)

        source.visititems(rewrite)
    assert rewritten.read_bytes() != (BUNDLED / "vector_cnn.weights.h5").read_bytes()
    shutil.move(rewritten, copy / "vector_cnn.weights.h5")
    base = method_fingerprint(Method("a", "model", BUNDLED))
    assert method_fingerprint(Method("b", "model", copy)) == base
    with h5py.File(copy / "vector_cnn.weights.h5", "r+") as handle:
        names = []
        handle.visititems(lambda name, item: names.append(name) if isinstance(item, h5py.Dataset) else None)
        handle[names[0]][...] = handle[names[0]][()] + 1.0
    assert method_fingerprint(Method("b", "model", copy)) != base
    description["resize"] = "legacy"
    (copy / "model.json").write_text(json.dumps(description))
    (copy / "vector_cnn.weights.h5").unlink()
    shutil.copy(BUNDLED / "vector_cnn.weights.h5", copy)
    assert method_fingerprint(Method("b", "model", copy)) != base
