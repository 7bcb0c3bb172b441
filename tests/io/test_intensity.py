"""Intensity by content (issue 33): bit depth, windows, dark and flat files, inverted files
and uniform borders give the image the network was trained on; the corpus cuts borders off
and writes masks at the stored size."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from acregnet_cli.cli import main
from acregnet_cli.datasets.phantom import make_subject
from acregnet_cli.errors import InputError
from acregnet_cli.fields import upsample_labels
from acregnet_cli.io.images import array_to_gray, load_radiograph
from acregnet_cli.io.intensity import field_of_view, normalise, parse_intensity


def chest(seed=0, size=160):
    image, labels = make_subject(np.random.RandomState(seed), size)
    return image, labels


def write_atlases(folder, count, size=128):
    """Phantom atlases in the folder layout (images/ and labels/ with the same names)."""
    rng = np.random.RandomState(0)
    for sub in ("images", "labels"):
        (folder / sub).mkdir(parents=True)
    for index in range(count):
        image, labels = make_subject(rng, size)
        Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(folder / "images" / f"a{index}.png")
        Image.fromarray(labels.astype(np.uint8)).save(folder / "labels" / f"a{index}.png")
    return folder


def stored_variants(image):
    """The same radiograph as exports hold it: (name, array, quantisation step in [0, 1] units)."""
    eight = np.rint(image * 255)
    return [
        ("8-bit", eight.astype(np.uint8), 1 / 255),
        ("12-bit in uint16", np.rint(image * 4095).astype(np.uint16), 1 / 4095),
        ("14-bit in uint16", np.rint(image * 16383).astype(np.uint16), 1 / 16383),
        ("uint16 window", np.rint(20000 + image * 20000).astype(np.uint16), 1 / 20000),
        ("dark 8-bit", np.rint(image * 63).astype(np.uint8), 1 / 63),
        ("flat 8-bit", np.rint(96 + image * 64).astype(np.uint8), 1 / 64),
        ("float", image * 3.7 - 1.2, 1e-6),
    ]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_linear_changes_of_the_stored_values_give_the_same_image(seed):
    image, _ = chest(seed)
    reference = normalise(np.rint(image * 4095))[0]
    for name, stored, step in stored_variants(image):
        got = array_to_gray(stored, name)
        # Equal up to the variant's quantisation, stretched by the window (at most ~1/0.8).
        assert np.abs(got - reference).max() <= 2.5 * max(step, 1 / 4095) + 1e-5, name


def test_the_data_type_alone_would_not_do():
    """What 'dtype' gave before: a 12-bit image in uint16 is nearly black, a dark file dark."""
    image, _ = chest()
    twelve = np.rint(image * 4095).astype(np.uint16)
    assert array_to_gray(twelve, intensity="dtype").max() < 0.07
    assert array_to_gray(twelve).max() == pytest.approx(1.0)


@pytest.mark.parametrize("seed", range(6))
def test_inverted_images_are_flipped_and_radiographs_are_not(seed):
    image, _ = chest(seed)
    stored = np.rint(image * 4095).astype(np.uint16)
    upright, how = normalise(stored)
    assert not how.inverted
    flipped, how = normalise(4095 - stored)
    assert how.inverted
    np.testing.assert_allclose(flipped, upright, atol=1e-5)


@pytest.mark.slow
def test_no_training_image_is_taken_for_inverted(data_root):
    """The three datasets' images (935) are all upright: none may be flipped."""
    import glob

    files = sorted(glob.glob(str(data_root / "data" / "*" / "LR_256" / "images" / "*.png")))
    assert len(files) > 900
    flipped = [f for f in files if load_radiograph(f).intensity.inverted]
    assert flipped == []


def test_field_of_view_cuts_uniform_bands_and_keeps_text_inside_them():
    image, _ = chest(size=128)
    canvas = np.full((200, 170), 0.5)
    canvas[30:158, 20:148] = image
    canvas[5:12, 30:120] = 1.0        # burned-in text in the top band
    assert field_of_view(canvas) == (30, 20, 128, 128)
    black = np.zeros((128, 200))
    black[:, 36:164] = image
    assert field_of_view(black) == (0, 36, 128, 128)
    assert field_of_view(image) == (0, 0, 128, 128)


def test_borders_do_not_set_the_window():
    image, _ = chest()
    padded = np.zeros((240, 240))
    padded[40:200, 40:200] = image * 0.5 + 0.25   # a low-contrast image on black
    normalised, how = normalise(padded)
    assert how.field_of_view == (40, 40, 160, 160)
    assert how.low >= 0.25 - 1e-9 and normalised[40:200, 40:200].max() == pytest.approx(1.0)


def test_intensity_option_values():
    assert parse_intensity("auto") == "auto" and parse_intensity("dtype") == "dtype"
    assert parse_intensity("100,4000") == (100.0, 4000.0)
    for bad in ("4000,100", "a,b", "1,2,3", "nan,4", "bright"):
        with pytest.raises(InputError):
            parse_intensity(bad)
    image, _ = chest()
    stored = np.rint(image * 4095).astype(np.uint16)
    windowed = normalise(stored, (0.0, 4095.0))[0]
    np.testing.assert_allclose(windowed, stored / 4095.0, atol=1e-6)


def test_bad_intensity_option_is_one_line_exit_2(tmp_path):
    image, _ = chest()
    Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(tmp_path / "a.png")
    result = CliRunner().invoke(main, ["register", str(tmp_path / "a.png"), str(tmp_path / "a.png"),
                                       "--intensity", "9,3", "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--intensity" in lines[0] and "LO < HI" in lines[0]
    assert not (tmp_path / "out").exists()


def test_register_records_the_window_and_warps_the_stored_values(tmp_path):
    image, _ = chest(size=128)
    other, _ = chest(seed=5, size=128)
    Image.fromarray(np.rint(image * 4095).astype(np.uint16)).save(tmp_path / "m.png")
    Image.fromarray(np.rint(4095 - other * 4095).astype(np.uint16)).save(tmp_path / "f.png")
    result = CliRunner().invoke(main, ["register", str(tmp_path / "m.png"), str(tmp_path / "f.png"),
                                       "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["intensity"]["moving"]["inverted"] is False
    assert summary["intensity"]["fixed"]["inverted"] is True
    assert summary["intensity"]["moving"]["window"][1] <= 4095
    # warped.png keeps the moving file's own 12-bit values (none beyond its range).
    warped = np.asarray(Image.open(tmp_path / "out" / "warped.png"))
    assert warped.dtype == np.uint16 and 3000 < warped.max() <= 4095


def test_reduced_images_say_by_how_much_and_labels_come_back_to_the_stored_size(tmp_path):
    image, labels = chest(size=200)
    path = tmp_path / "big.png"
    Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(path)
    read = load_radiograph(path, max_side=90)
    assert read.factor == 3 and read.stored_shape == (200, 200) and read.image.shape == (67, 67)
    reduced = labels[::3, ::3][:67, :67]
    back = upsample_labels(reduced, read.factor, read.stored_shape)
    assert back.shape == (200, 200)
    assert np.mean(back == labels) > 0.97


@pytest.mark.slow
def test_corpus_cuts_borders_writes_masks_at_stored_size_and_records_the_window(tmp_path):
    atlases = write_atlases(tmp_path / "atlases", count=6)
    rng = np.random.RandomState(7)
    (tmp_path / "images").mkdir()
    image, labels = make_subject(rng, 128)
    plain = np.rint(image * 255).astype(np.uint8)
    Image.fromarray(plain).save(tmp_path / "images" / "plain.png")
    # The same radiograph letterboxed in black, as a 12-bit file, and inverted.
    boxed = np.zeros((192, 128), np.uint16)
    boxed[:128] = np.rint(image * 4095)
    Image.fromarray(boxed).save(tmp_path / "images" / "boxed.png")
    Image.fromarray((255 - plain).astype(np.uint8)).save(tmp_path / "images" / "negative.png")
    result = CliRunner().invoke(main, ["corpus", str(tmp_path / "images"), "-o", str(tmp_path / "out"),
                                       "--atlases", str(atlases), "--k", "3", "--max-references", "3",
                                       "--min-ncc", "0"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "corpus.csv").set_index("image")
    masks = {name: np.asarray(Image.open(tmp_path / "out" / table.loc[name, "mask"])) for name in table.index}
    assert masks["boxed.png"].shape == (192, 128)
    assert not masks["boxed.png"][128:].any()          # nothing in the black band
    for name in ("boxed.png", "negative.png"):
        agree = np.mean(masks[name][:128] == masks["plain.png"])
        assert agree > 0.99, name
    assert bool(table.loc["negative.png", "inverted"]) and not bool(table.loc["plain.png", "inverted"])
    assert table.loc["boxed.png", "field_of_view"] == "0 0 128 128"
    # The default framing fits the atlases' global map for every image and records it.
    assert table["global_reach"].notna().all() and table["aligned"].isin([True, False]).all()


def test_affine_maps_compose_back_to_the_image_frame():
    """A field found on the resampled image, brought back through the map, reads the
    image where the resampled image was read."""
    from acregnet_cli.fields.affine import affine_field, fit_affine, through_inverse
    from acregnet_cli.np.ops import warp_bilinear

    size = 32
    matrix, shift = np.array([[1.12, 0.05], [-0.04, 0.93]]), np.array([1.5, -2.0])
    forward = affine_field(matrix, shift, size)
    assert np.allclose(fit_affine(forward)[0], matrix, atol=1e-6)
    image, _ = chest(size=size)
    canonical = warp_bilinear(image[None, ..., None].astype(np.float32),
                              affine_field(matrix, shift, size, inverse=True)[None])[0, ..., 0]
    rng = np.random.RandomState(0)
    local = rng.uniform(-1, 1, (1, size, size, 2)).astype(np.float32)
    direct = warp_bilinear(canonical[None, ..., None], local)[0, ..., 0]
    through = warp_bilinear(image[None, ..., None].astype(np.float32), through_inverse(local, matrix, shift))[0, ..., 0]
    inner = (slice(6, -6), slice(6, -6))
    # Two interpolations against one: equal up to interpolation error.
    assert np.abs(direct - through)[inner].mean() < 0.02


@pytest.mark.slow
def test_segment_cuts_borders_off_targets_and_atlases(tmp_path):
    atlases = write_atlases(tmp_path / "atlases", count=6)
    image, labels = make_subject(np.random.RandomState(9), 128)
    boxed = np.zeros((128, 200), np.uint8)
    boxed[:, 36:164] = np.rint(image * 255)
    Image.fromarray(np.rint(image * 255).astype(np.uint8)).save(tmp_path / "plain.png")
    Image.fromarray(boxed).save(tmp_path / "boxed.png")
    masks = {}
    for framing in ("field-of-view", "none"):
        out = tmp_path / framing
        result = CliRunner().invoke(main, ["segment", str(tmp_path / "plain.png"), str(tmp_path / "boxed.png"),
                                           "--atlases", str(atlases), "-o", str(out), "--k", "3", "--no-overlay",
                                           "--framing", framing])
        assert result.exit_code == 0, result.output
        masks[framing] = {name: np.asarray(Image.open(out / f"{name}_mask.png")) for name in ("plain", "boxed")}
    cut = masks["field-of-view"]
    assert cut["boxed"].shape == (128, 200) and not cut["boxed"][:, :36].any() and not cut["boxed"][:, 164:].any()
    assert np.mean(cut["boxed"][:, 36:164] == cut["plain"]) > 0.99
    whole = masks["none"]
    assert np.mean(whole["boxed"][:, 36:164] == whole["plain"]) < np.mean(cut["boxed"][:, 36:164] == cut["plain"])


def test_the_papers_reading_is_unchanged_to_the_bit():
    """'dtype' (dataset folds, Table 1) divides the values as decoded, float64 for floats and
    DICOM, exactly as before intensity by content."""
    rng = np.random.RandomState(0)
    decoded = rng.rand(50, 50) * 12345.678 + 0.1234567
    before = ((decoded - decoded.min()) / (decoded.max() - decoded.min())).astype(np.float32)
    assert np.array_equal(normalise(decoded, "dtype")[0], before)
    sixteen = (rng.rand(40, 40) * 65535).astype(np.uint16).astype(np.float64)
    assert np.array_equal(normalise(sixteen, "dtype", 65535.0)[0], (sixteen / 65535.0).astype(np.float32))
