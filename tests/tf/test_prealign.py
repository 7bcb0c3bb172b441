"""Global pre-alignment before the network: known transforms, the reverse fit, wiring."""

import numpy as np
import pytest

from acregnet_cli.datasets.phantom import make_subject
from acregnet_cli.errors import InputError
from acregnet_cli.evaluation import Method, method_fingerprint, parse_method
from acregnet_cli.registration import Registrar
from acregnet_cli.registration.engines import NumpyOps
from acregnet_cli.resources import data_dir
from acregnet_cli.tf.ops import warp_bilinear
from acregnet_cli.tf.prealign import estimate_prealignment, overlap_ncc, transform_field

# The fitted global transforms are an extension few runs use: in the full suite, not the quick one.
pytestmark = pytest.mark.slow

SIZE = 64


def subjects(count, seed=0):
    rng = np.random.RandomState(seed)
    return [make_subject(rng, SIZE) for _ in range(count)]


def warp(images, field):
    return np.asarray(warp_bilinear(np.asarray(images, np.float32)[..., None], field))[..., 0]


def test_transform_field_known_answers():
    identity = transform_field(np.eye(2)[None], np.zeros((1, 2)), SIZE).numpy()
    np.testing.assert_allclose(identity, 0.0, atol=1e-5)
    # A translation of t normalised units is t * (S - 1) / 2 pixels everywhere.
    shifted = transform_field(np.eye(2)[None], np.float32([[0.2, -0.1]]), SIZE).numpy()
    np.testing.assert_allclose(shifted[0, ..., 0], 0.2 * (SIZE - 1) / 2, rtol=1e-5)
    np.testing.assert_allclose(shifted[0, ..., 1], -0.1 * (SIZE - 1) / 2, rtol=1e-5)
    # Scaling rows by 1.25 about the centre: zero at the centre, +-1/8 of the side at the edges.
    scaled = transform_field(np.float32([[[1.25, 0], [0, 1]]]), np.zeros((1, 2)), SIZE).numpy()
    np.testing.assert_allclose(scaled[0, 0, :, 0], -0.25 * (SIZE - 1) / 2, rtol=1e-5)
    np.testing.assert_allclose(scaled[0, -1, :, 0], 0.25 * (SIZE - 1) / 2, rtol=1e-5)
    np.testing.assert_allclose(scaled[..., 1], 0.0, atol=1e-5)


def test_an_image_with_itself_needs_no_transform():
    images = np.stack([image for image, _ in subjects(3)])
    fields = estimate_prealignment(images, images, "affine")
    assert fields.shape == (3, SIZE, SIZE, 2)
    assert np.abs(fields).max() < 0.5


@pytest.mark.parametrize("kind", ["affine", "similarity"])
def test_a_known_global_transform_is_recovered(kind):
    (image, _), = subjects(1, seed=3)
    # fixed(p) = moving(A p + t): a 10 % enlargement of the moving image (A = 0.9 I) and a shift.
    truth = transform_field(np.float32([[[0.9, 0], [0, 0.9]]]), np.float32([[0.08, -0.05]]), SIZE).numpy()
    fixed = warp(image[None], truth)
    field = estimate_prealignment(image[None], fixed, kind)
    inner = (slice(None), slice(12, -12), slice(12, -12))
    assert np.abs(field - truth)[inner].mean() < 0.5, "pixels off the true displacement on average"
    assert np.abs(truth)[inner].mean() > 2.0, "the test transform must be more than a pixel"


def test_a_moving_image_that_must_shrink_is_fitted_through_the_reverse_direction():
    (image, _), = subjects(1, seed=5)
    # The moving image is a close-up (1.4 times larger) of the fixed one, so the fit must
    # sample beyond the moving image's border; the reverse fit (enlarging) finds it.
    close_up = transform_field(np.float32([[[1 / 1.4, 0], [0, 1 / 1.4]]]), np.zeros((1, 2)), SIZE).numpy()
    moving = warp(image[None], close_up)
    field = estimate_prealignment(moving, image[None], "affine")
    truth = transform_field(np.float32([[[1.4, 0], [0, 1.4]]]), np.zeros((1, 2)), SIZE).numpy()
    inner = (slice(None), slice(16, -16), slice(16, -16))
    assert np.abs(field - truth)[inner].mean() < 1.0
    before = overlap_ncc(moving[..., None], image[None, ..., None], np.zeros_like(truth)).numpy()[0]
    after = overlap_ncc(moving[..., None], image[None, ..., None], field).numpy()[0]
    assert after > before + 0.1


def test_bad_kind_or_shapes_raise():
    images = np.zeros((2, SIZE, SIZE), np.float32)
    with pytest.raises(InputError, match="prealignment must be one of"):
        estimate_prealignment(images, images, "rigid")
    with pytest.raises(InputError, match="one shape"):
        estimate_prealignment(images, images[:1], "affine")
    with pytest.raises(InputError, match="one shape"):
        estimate_prealignment(images[:, :32], images[:, :32], "affine")
    with pytest.raises(InputError, match="prealign must be one of"):
        Registrar(None, SIZE, ops=NumpyOps(lambda pair: pair), prealign="rigid")


class ZeroNetwork:
    """A stand-in network that predicts no displacement."""

    def __call__(self, pair, training=False):
        return np.zeros(pair.shape[:3] + (2,), np.float32)


def test_registrar_starts_the_network_from_the_global_transform():
    (image, labels), = subjects(1, seed=7)
    truth = transform_field(np.float32([[[0.9, 0], [0, 0.9]]]), np.float32([[0.06, 0.0]]), SIZE).numpy()
    fixed = warp(image[None], truth)[0]
    fixed_labels = np.rint(warp(labels[None].astype(np.float32), truth)[0]).astype(np.uint8)
    network = ZeroNetwork()
    plain = Registrar(network, SIZE, ops=NumpyOps(network)).register(image, fixed, labels)
    aligned = Registrar(network, SIZE, ops=NumpyOps(network), prealign="affine").register(image, fixed, labels)
    np.testing.assert_allclose(plain.field, 0.0)
    assert np.abs(aligned.field - truth[0])[12:-12, 12:-12].mean() < 0.5

    def dice(a, b):
        return 2 * np.sum((a > 0) & (b > 0)) / (np.sum(a > 0) + np.sum(b > 0))

    assert dice(aligned.warped_mask, fixed_labels) > dice(plain.warped_mask, fixed_labels) + 0.05
    # With two passes, the network's (zero) second field leaves the transform as it was.
    twice = Registrar(network, SIZE, ops=NumpyOps(network), prealign="affine", passes=2).register(image, fixed, labels)
    np.testing.assert_allclose(twice.field, aligned.field, atol=1e-4)


def test_evaluate_method_option_and_fingerprint():
    bundled = data_dir() / "models" / "jsrt-paper"
    method = parse_method("ac=jsrt-paper,prealign=affine,passes=2")
    assert (method.prealign, method.passes, method.path) == ("affine", 2, bundled)
    assert parse_method("ac=jsrt-paper").prealign is None
    with pytest.raises(InputError, match="prealign must be one of"):
        parse_method("ac=jsrt-paper,prealign=rigid")
    plain = method_fingerprint(Method("ac", "model", bundled))
    assert method_fingerprint(Method("ac", "model", bundled, prealign="affine")) != plain
    assert method_fingerprint(Method("ac", "model", bundled, prealign="similarity")) not in (
        plain, method_fingerprint(Method("ac", "model", bundled, prealign="affine")))


def test_register_command_prealigns_and_records_it(tmp_path):
    import json

    from click.testing import CliRunner
    from PIL import Image

    from acregnet_cli.cli import main

    (image, labels), = subjects(1, seed=11)
    truth = transform_field(np.float32([[[0.85, 0], [0, 0.9]]]), np.float32([[0.1, 0.0]]), SIZE).numpy()
    fixed = warp(image[None], truth)[0]
    paths = {}
    for name, array in (("moving", image), ("fixed", fixed)):
        paths[name] = tmp_path / f"{name}.png"
        Image.fromarray(np.uint8(np.clip(array, 0, 1) * 255)).save(paths[name])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["register", str(paths["moving"]), str(paths["fixed"]), "-o", str(out),
                                       "--prealign", "affine", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["prealign"] == "affine" and summary["engine"] == "tensorflow"
    # Measured: the bundled network alone is 1.3 pixels off the true displacement on
    # average here, with the affine transform first 0.4.
    field = np.load(out / "field.npy")
    assert np.abs(field - truth[0])[16:-16, 16:-16].mean() < 0.8
    refused = CliRunner().invoke(main, ["register", str(paths["moving"]), str(paths["fixed"]), "-o",
                                        str(tmp_path / "numpy"), "--prealign", "affine", "--engine", "numpy"])
    assert refused.exit_code == 2 and "--engine tensorflow" in refused.output
    assert not (tmp_path / "numpy").exists()


@pytest.mark.slow
def test_segment_and_qc_take_the_registration_options(tmp_path):
    import json

    from click.testing import CliRunner
    from PIL import Image

    from acregnet_cli.cli import main

    (image, labels), = subjects(1, seed=13)
    # The target is the atlas enlarged by 1/0.85 and shifted: one atlas, k = 1.
    truth = transform_field(np.float32([[[0.85, 0], [0, 0.85]]]), np.float32([[0.12, 0.0]]), SIZE).numpy()
    target = warp(image[None], truth)[0]
    target_labels = np.rint(warp(labels[None].astype(np.float32), truth)[0]).astype(np.uint8)
    atlases = tmp_path / "atlases"
    for sub in ("images", "labels"):
        (atlases / sub).mkdir(parents=True)
    Image.fromarray(np.uint8(image * 255)).save(atlases / "images" / "a.png")
    Image.fromarray(labels).save(atlases / "labels" / "a.png")
    Image.fromarray(np.uint8(np.clip(target, 0, 1) * 255)).save(tmp_path / "target.png")

    def dice(mask):
        return np.mean([2 * np.sum((mask == v) & (target_labels == v)) / (np.sum(mask == v) + np.sum(target_labels == v))
                        for v in np.unique(labels) if v != 0])

    scores = {}
    # The whole frame and the stored values both times: what is measured is the
    # pre-alignment, not the border cut or the content window (with both defaults the
    # plain run reaches 0.904 and the pre-aligned one 0.920 on this pair).
    for name, options in (("plain", []), ("affine", ["--prealign", "affine", "--mask-outside", "background"])):
        result = CliRunner().invoke(main, ["segment", str(tmp_path / "target.png"), "--atlases", str(atlases), "--k", "1",
                                           "-o", str(tmp_path / name), "--no-overlay", "--json", "--framing", "none", "--intensity", "dtype",
                                           *options],
                                    catch_exceptions=False)
        assert result.exit_code == 0, result.output
        summary = json.loads(result.output)
        assert summary["prealign"] == (None if name == "plain" else "affine")
        assert summary["mask_outside"] == ("edge" if name == "plain" else "background")
        scores[name] = dice(np.array(Image.open(tmp_path / name / "target_mask.png")))
    assert scores["affine"] > scores["plain"] + 0.02, scores

    Image.fromarray(target_labels).save(tmp_path / "target_mask.png")
    result = CliRunner().invoke(main, ["qc", str(tmp_path / "target_mask.png"), "--images", str(tmp_path / "target.png"),
                                       "--references", str(atlases), "-o", str(tmp_path / "qc"), "--prealign",
                                       "affine", "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["prealign"] == "affine"
