"""Using a saved field: warp, label warp, compose, invert, Jacobian, points: known answers,
and the warp of a field that `register` wrote reproduces what it wrote."""

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from acregnet_cli.errors import InputError
from acregnet_cli.fields import (
    compose_fields,
    folding_fraction,
    invert_field,
    jacobian_determinant,
    map_points,
    warp_image,
    warp_labels,
)


def smooth_field(shape, amplitude, seed=0):
    from scipy import ndimage

    rng = np.random.RandomState(seed)
    noise = rng.standard_normal(shape + (2,))
    field = np.stack([ndimage.gaussian_filter(noise[..., c], 8) for c in range(2)], axis=-1)
    return field / np.abs(field).max() * amplitude


def test_a_translations_inverse_is_the_opposite_translation():
    shift = np.zeros((32, 40, 2))
    shift[..., 0], shift[..., 1] = 2.25, -3.5
    inverse, residual = invert_field(shift)
    interior = (slice(6, -6), slice(6, -6))
    np.testing.assert_allclose(inverse[interior], -shift[interior], atol=1e-9)
    assert residual[interior].max() < 1e-9


def test_composing_with_the_identity_gives_the_field_back():
    field = smooth_field((30, 30), 4.0)
    identity = np.zeros_like(field)
    np.testing.assert_allclose(compose_fields(field, identity), field, atol=1e-12)
    np.testing.assert_allclose(compose_fields(identity, field), field, atol=1e-12)


def test_the_jacobian_of_an_affine_map_is_its_determinant_everywhere():
    matrix = np.array([[1.2, 0.3], [-0.1, 0.9]])
    rows, columns = np.mgrid[0:20, 0:25].astype(np.float64)
    points = np.stack([rows, columns], axis=-1)
    field = points @ (matrix - np.eye(2)).T + np.array([3.0, -1.0])
    np.testing.assert_allclose(jacobian_determinant(field), np.linalg.det(matrix), atol=1e-12)


def test_a_smooth_field_and_its_inverse_compose_to_nothing():
    field = smooth_field((64, 64), 5.0, seed=3)
    assert folding_fraction(field) == 0.0
    inverse, residual = invert_field(field)
    assert residual.mean() < 0.01
    # q -> q + v(q) -> (q + v) + u(q + v) = q: the inverse then the field is the identity.
    assert np.abs(compose_fields(field, inverse))[8:-8, 8:-8].max() < 0.05


def test_warping_by_the_composition_equals_warping_twice():
    image = np.random.RandomState(1).rand(48, 48)
    from scipy import ndimage

    image = ndimage.gaussian_filter(image, 6)  # smooth: bilinear interpolation error small beside a wrong composition
    first, second = smooth_field((48, 48), 3.0, 4), smooth_field((48, 48), 3.0, 5)
    twice = warp_image(warp_image(image, first), second)
    once = warp_image(image, compose_fields(first, second))
    assert np.abs(twice - once)[6:-6, 6:-6].max() < 0.01 * np.ptp(image)


def test_points_follow_the_field_and_points_outside_are_refused():
    field = smooth_field((40, 40), 4.0, 6)
    points = np.array([[10.0, 12.0], [20.5, 30.25]])
    mapped = map_points(points, field)
    np.testing.assert_allclose(mapped[0], points[0] + field[10, 12], atol=1e-12)
    with pytest.raises(InputError, match="1 point"):
        map_points([[10.0, 12.0], [45.0, 3.0]], field)


@pytest.mark.parametrize("bad,message", [(np.zeros((8, 8, 3)), "(H, W, 2)"), (np.full((8, 8, 2), np.nan), "NaN")])
def test_bad_fields_are_refused(bad, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        warp_image(np.zeros((8, 8)), bad)


def test_a_saved_field_reproduces_what_register_wrote(registered):
    from acregnet_cli.io.images import read_image, to_bit_depth

    field = np.load(registered / "out" / "field.npy")
    mask = np.asarray(Image.open(registered / "mask.png"))
    warped_mask = np.asarray(Image.open(registered / "out" / "warped_mask.png"))
    assert np.mean(warp_labels(mask, field) != warped_mask) < 1e-3  # float rounding may flip an exact tie
    image, _ = read_image(registered / "m.png", intensity="dtype")  # warped.png holds the stored values
    written = np.asarray(Image.open(registered / "out" / "warped.png")).astype(int)
    again = to_bit_depth(np.clip(warp_image(image, field), 0, 1), 8).astype(int)
    assert np.abs(again - written).max() <= 1  # to one grey level


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    from conftest import write_phantom_pair

    from acregnet_cli.cli import main

    folder = tmp_path_factory.mktemp("registered")
    write_phantom_pair(folder, seed=12)
    result = CliRunner().invoke(main, ["register", str(folder / "m.png"), str(folder / "f.png"), "--mask",
                                       str(folder / "mask.png"), "-o", str(folder / "out")])
    assert result.exit_code == 0, result.output
    return folder


@pytest.mark.parametrize("field", ["out", "out/field.npy", "out/field.nii.gz"])
def test_warp_reproduces_what_register_wrote(registered, tmp_path, field):
    from acregnet_cli.cli import main

    images = CliRunner().invoke(main, ["warp", str(registered / field), str(registered / "m.png"),
                                       "-o", str(tmp_path / "w")])
    assert images.exit_code == 0, images.output
    written = np.asarray(Image.open(registered / "out" / "warped.png")).astype(int)
    assert np.abs(np.asarray(Image.open(tmp_path / "w" / "m.png")).astype(int) - written).max() <= 1
    masks = CliRunner().invoke(main, ["warp", str(registered / field), str(registered / "mask.png"), "--labels",
                                      "-o", str(tmp_path / "w")])
    assert masks.exit_code == 0, masks.output
    expected = np.asarray(Image.open(registered / "out" / "warped_mask.png"))
    assert np.mean(np.asarray(Image.open(tmp_path / "w" / "mask.png")) != expected) < 1e-3


def test_warp_says_when_an_image_looks_like_a_label_map(registered, tmp_path):
    from acregnet_cli.cli import main

    result = CliRunner().invoke(main, ["warp", str(registered / "out"), str(registered / "mask.png"),
                                       "-o", str(tmp_path / "w")])
    assert result.exit_code == 0
    assert "4 distinct values; warped as an image (give --labels" in result.output


@pytest.mark.parametrize("case", ["wrong size", "not a field", "nan field", "missing"])
def test_warp_refuses_bad_fields_and_inputs_in_one_line(registered, tmp_path, case):
    from acregnet_cli.cli import main

    field, image = registered / "out", registered / "m.png"
    if case == "wrong size":
        Image.fromarray(np.zeros((50, 60), np.uint8)).save(tmp_path / "small.png")
        image, expected = tmp_path / "small.png", "60x50 pixels; this field warps images of 128x128"
    elif case == "not a field":
        np.save(tmp_path / "field.npy", np.zeros((128, 128, 3), np.float32))
        field, expected = tmp_path / "field.npy", "a displacement field is (H, W, 2)"
    elif case == "nan field":
        np.save(tmp_path / "field.npy", np.full((128, 128, 2), np.nan, np.float32))
        field, expected = tmp_path / "field.npy", "NaN"
    else:
        field, expected = tmp_path / "nowhere.npy", "field file not found"
    result = CliRunner().invoke(main, ["warp", str(field), str(image), "-o", str(tmp_path / "w")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and expected in lines[0], result.output
    assert not (tmp_path / "w").exists()
