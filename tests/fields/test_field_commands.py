"""invert, compose, warp --points, the Jacobian files, register --figures, and the NIfTI
field in SimpleITK: what a user does with a field after register."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from acregnet_cli.cli import main
from acregnet_cli.fields import compose_fields, jacobian_determinant, map_points


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def one_line_refusal(result, expected):
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and expected in lines[0], result.output


@pytest.fixture(scope="module")
def registered(tmp_path_factory):
    from conftest import write_phantom_pair

    folder = tmp_path_factory.mktemp("fields")
    write_phantom_pair(folder, seed=21)
    result = run("register", folder / "m.png", folder / "f.png", "--mask", folder / "mask.png", "-o",
                 folder / "out", "--jacobian", "--figures")
    assert result.exit_code == 0, result.output
    return folder


def test_register_writes_the_jacobian_and_the_figure(registered):
    import SimpleITK as sitk

    out = registered / "out"
    summary = json.loads((out / "summary.json").read_text())
    field = np.load(out / "field.npy").astype(np.float64)
    determinant = jacobian_determinant(field)
    assert summary["jacobian_min"] == pytest.approx(determinant.min(), abs=1e-5)
    assert summary["jacobian_nonpositive_fraction"] == pytest.approx(np.mean(determinant <= 0), abs=1e-6)
    assert {"jacobian.nii.gz", "jacobian.png", "figure.png"} <= set(summary["files"])
    stored = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "jacobian.nii.gz")))
    np.testing.assert_allclose(stored, determinant, atol=1e-5)
    picture = np.asarray(Image.open(out / "jacobian.png"))
    # The map at the field's pixels, its colour key in 30 rows below (issue 36, item 8).
    assert picture.shape == (field.shape[0] + 30, field.shape[1], 3)
    key, picture = picture[field.shape[0]:], picture[:field.shape[0]]
    assert np.count_nonzero((picture == 0).all(axis=-1)) == np.count_nonzero(determinant <= 0)
    assert (key[:, :, 2] > 200).any() and (key[:, :, 0] > 200).any() and key.std() > 20  # drawn
    figure = Image.open(out / "figure.png")
    assert figure.size[0] > 1000 and np.asarray(figure).std() > 10  # drawn, not blank


def test_invert_gives_an_inverse_that_composes_to_nothing(registered, tmp_path):
    result = run("invert", registered / "out", "-o", tmp_path / "inv", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["method"] == "newton"
    assert summary["residual_mean_px"] < 0.01 and summary["evaluated_fraction"] > 0.8
    field = np.load(registered / "out" / "field.npy").astype(np.float64)
    inverse = np.load(tmp_path / "inv" / "field.npy").astype(np.float64)
    # field after inverse is the identity where an inverse exists (away from the border)
    unfolded = jacobian_determinant(inverse)[16:-16, 16:-16] > 0.2
    assert np.median(np.abs(compose_fields(field, inverse))[16:-16, 16:-16][unfolded]) < 0.01


def test_compose_with_a_zero_field_gives_the_field_back(registered, tmp_path):
    np.save(tmp_path / "zero.npy", np.zeros((128, 128, 2), np.float32))
    result = run("compose", registered / "out", tmp_path / "zero.npy", "-o", tmp_path / "c", "--jacobian")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(np.load(tmp_path / "c" / "field.npy"), np.load(registered / "out" / "field.npy"),
                               atol=1e-6)
    assert (tmp_path / "c" / "jacobian.png").is_file()


def test_points_go_both_ways(registered, tmp_path):
    (tmp_path / "p.csv").write_text("name,x,y\napex,40,30\nbase,80.5,95.25\n")
    forward = run("warp", registered / "out", "--points", tmp_path / "p.csv", "-o", tmp_path / "fwd")
    assert forward.exit_code == 0, forward.output
    rows = list(csv.DictReader((tmp_path / "fwd" / "p.csv").read_text().splitlines()))
    field = np.load(registered / "out" / "field.npy")
    expected = map_points([[30.0, 40.0], [95.25, 80.5]], field)
    assert rows[0]["name"] == "apex"
    np.testing.assert_allclose([[float(r["mapped_y"]), float(r["mapped_x"])] for r in rows], expected, atol=1e-3)
    backward = run("warp", registered / "out", "--points", tmp_path / "p.csv", "--direction", "moving-to-fixed",
                   "-o", tmp_path / "back")
    assert backward.exit_code == 0, backward.output
    rows = list(csv.DictReader((tmp_path / "back" / "p.csv").read_text().splitlines()))
    landed = np.array([[float(r["mapped_y"]), float(r["mapped_x"])] for r in rows])
    # the field sends the landed points back to where they started
    np.testing.assert_allclose(map_points(landed, field), [[30.0, 40.0], [95.25, 80.5]], atol=0.05)
    assert all(float(r["inverse_residual_px"]) < 0.05 for r in rows)


@pytest.mark.parametrize("case", ["outside", "no columns", "not numbers", "many labels"])
def test_bad_points_and_label_maps_are_refused_in_one_line(registered, tmp_path, case):
    args = ["warp", registered / "out", "-o", tmp_path / "w"]
    if case == "many labels":
        labels = np.arange(128 * 128, dtype=np.uint16).reshape(128, 128)
        Image.fromarray(labels).save(tmp_path / "labels.png")
        args += [tmp_path / "labels.png", "--labels"]
        expected = "labels.png"
    else:
        text = {"outside": "x,y\n10,10\n300,4\n", "no columns": "a,b\n1,2\n", "not numbers": "x,y\none,2\n"}[case]
        (tmp_path / "p.csv").write_text(text)
        args += ["--points", tmp_path / "p.csv"]
        expected = {"outside": "1 point(s) outside the fixed image (128x128 pixels", "no columns": "columns x and y",
                    "not numbers": "line 2"}[case]
    one_line_refusal(run(*args), expected)
    assert not (tmp_path / "w").exists()


def test_invert_and_compose_refuse_bad_fields_in_one_line(tmp_path):
    np.save(tmp_path / "bad.npy", np.zeros((10, 10, 3), np.float32))
    (tmp_path / "text.nii.gz").write_text("not nifti")
    one_line_refusal(run("invert", tmp_path / "bad.npy", "-o", tmp_path / "i"), "(H, W, 2)")
    one_line_refusal(run("compose", tmp_path / "bad.npy", tmp_path / "text.nii.gz", "-o", tmp_path / "c"), "bad.npy")
    one_line_refusal(run("invert", tmp_path / "text.nii.gz", "-o", tmp_path / "i"), "text.nii.gz")
    import SimpleITK as sitk

    sitk.WriteImage(sitk.Image(16, 16, sitk.sitkFloat32), str(tmp_path / "scalar.nii.gz"))
    one_line_refusal(run("invert", tmp_path / "scalar.nii.gz", "-o", tmp_path / "i"), "not a 2-D displacement field")
    assert not (tmp_path / "i").exists() and not (tmp_path / "c").exists()


@pytest.mark.parametrize("sizes", [(128, 128, 1.0), (96, 128, 0.7), (128, 80, 2.5)])
def test_simpleitk_reproduces_the_warp_from_the_nifti_field(tmp_path, sizes):
    """The recipe in docs/field-convention.md: the NIfTI field as a DisplacementFieldTransform,
    the moving image given the origin and spacing register records, resampled on the fixed grid."""
    import SimpleITK as sitk

    from acregnet_cli.datasets.phantom import make_subject

    moving_side, fixed_side, spacing = sizes
    rng = np.random.RandomState(3)
    moving, _ = make_subject(rng, moving_side)
    fixed, _ = make_subject(rng, fixed_side)
    Image.fromarray((moving * 255).astype(np.uint8)).save(tmp_path / "m.png")
    Image.fromarray((fixed * 255).astype(np.uint8)).save(tmp_path / "f.png")
    result = run("register", tmp_path / "m.png", tmp_path / "f.png", "-o", tmp_path / "out", "--spacing", spacing)
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())

    field = sitk.ReadImage(str(tmp_path / "out" / "field.nii.gz"), sitk.sitkVectorFloat64)
    transform = sitk.DisplacementFieldTransform(field)
    image = sitk.ReadImage(str(tmp_path / "m.png"), sitk.sitkFloat32)
    image.SetOrigin(summary["itk_moving_frame"]["origin"])
    image.SetSpacing(summary["itk_moving_frame"]["spacing"])
    reference = sitk.Image(fixed_side, fixed_side, sitk.sitkFloat32)
    reference.SetSpacing((spacing, spacing))
    warped = sitk.GetArrayFromImage(sitk.Resample(image, reference, transform, sitk.sitkLinear, 0.0))
    written = np.asarray(Image.open(tmp_path / "out" / "warped.png")).astype(np.float64)
    inner = (slice(8, -8), slice(8, -8))
    tolerance = 1.0 if moving_side == fixed_side else 3.0  # a resized moving image is smoothed first
    assert np.median(np.abs(warped - written)[inner]) <= tolerance
    assert np.corrcoef(warped[inner].ravel(), written[inner].ravel())[0, 1] > 0.98


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
def test_a_velocity_models_inverse_comes_from_its_velocity(registered, tmp_path, engine):
    import shutil

    from acregnet_cli.models import load_model
    from acregnet_cli.models.files import write_model_json

    # The bundled weights read as a velocity field: a velocity network with a realistic output.
    shutil.copy(load_model("jsrt").path / "vector_cnn.weights.h5", tmp_path / "vector_cnn.weights.h5")
    write_model_json(tmp_path, {"architecture": "vector_cnn", "size": 64, "dropout": 0.5, "resize": "modern",
                                "weights": "vector_cnn.weights.h5", "integration_steps": 7})
    out = tmp_path / "out"
    result = run("register", registered / "m.png", registered / "f.png", "--model", tmp_path, "--engine", engine,
                 "-o", out)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["velocity"]["integration_steps"] == 7 and np.load(out / "velocity.npy").shape == (64, 64, 2)
    inverted = run("invert", out, "-o", tmp_path / "inv", "--json")
    assert inverted.exit_code == 0, inverted.output
    report = json.loads(inverted.stdout)
    assert report["method"] == "velocity, refined by newton"
    assert report["velocity_residual_mean_px"] > report["residual_mean_px"] and report["residual_mean_px"] < 0.01
    # the NIfTI field carries no velocity: Newton from the forward map
    plain = run("invert", out / "field.nii.gz", "-o", tmp_path / "inv2", "--json")
    assert json.loads(plain.stdout)["method"] == "newton"


@pytest.mark.parametrize("as_json", [False, True])
def test_invert_a_field_with_no_inverse_says_so(tmp_path, as_json):
    """Issue 36, item 19: a TypeError after writing its files when no pixel has an inverse."""
    np.save(tmp_path / "far.npy", np.full((32, 32, 2), 1000, np.float32))
    result = run("invert", tmp_path / "far.npy", "-o", tmp_path / "inverse", *(["--json"] if as_json else []))
    assert result.exit_code == 0, result.output
    if as_json:
        assert json.loads(result.output)["residual_mean_px"] is None
    else:
        assert "no pixel has an inverse" in result.output
    assert (tmp_path / "inverse" / "field.npy").is_file()


def test_warp_takes_an_image_and_its_mask_of_the_same_name(registered, tmp_path):
    """Issue 36, item 2: images/X.png with --mask labels/X.png was refused ("two inputs share
    a file name"): the datasets' own layout."""
    for sub, source in (("images", "m.png"), ("labels", "mask.png")):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "X.png").write_bytes((registered / source).read_bytes())
    result = run("warp", registered / "out", tmp_path / "images" / "X.png", "--mask", tmp_path / "labels" / "X.png",
                 "-o", tmp_path / "w")
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in (tmp_path / "w").iterdir() if not p.name.startswith("."))
    assert written == ["images_X.png", "labels_X.png"]
    warped_mask = np.asarray(Image.open(tmp_path / "w" / "labels_X.png"))
    assert np.array_equal(warped_mask, np.asarray(Image.open(registered / "out" / "warped_mask.png")))


def test_warp_never_overwrites_its_input_or_the_jacobian_it_was_not_asked_to_replace(registered, tmp_path):
    """Issue 36, item 16: an input named jacobian.png was overwritten by --jacobian; Jacobian
    files were replaced without --overwrite."""
    out = tmp_path / "w"
    out.mkdir()
    picture = out / "jacobian.png"
    picture.write_bytes((registered / "m.png").read_bytes())
    before = picture.read_bytes()
    result = run("warp", registered / "out", picture, "-o", out, "--jacobian")
    assert result.exit_code == 2 and "jacobian.png: exists already" in result.output
    assert picture.read_bytes() == before
    picture.rename(tmp_path / "jacobian.png")
    result = run("warp", registered / "out", tmp_path / "jacobian.png", "-o", out, "--jacobian")
    assert result.exit_code == 0, result.output
    assert (out / "jacobian_warped.png").is_file() and (out / "jacobian.nii.gz").is_file()
    assert (tmp_path / "jacobian.png").read_bytes() == before
    # The same input warped into its own folder is written beside it, never over it.
    result = run("warp", registered / "out", tmp_path / "jacobian.png", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "jacobian.png").read_bytes() == before and (tmp_path / "jacobian_warped.png").is_file()


def test_points_are_read_as_pairs_are(registered, tmp_path):
    """Issue 36, item 20: a points CSV row with extra cells was written as a Python list, and a
    byte-order mark was refused: one table reader for points and pairs."""
    (tmp_path / "bom.csv").write_bytes("\ufeffx,y,name\n10,20,apex\n".encode("utf-8"))
    result = run("warp", registered / "out", "--points", tmp_path / "bom.csv", "-o", tmp_path / "a")
    assert result.exit_code == 0, result.output
    assert "apex" in (tmp_path / "a" / "bom.csv").read_text()
    (tmp_path / "extra.csv").write_text("x,y\n10,20\n11,21,oops\n")
    one_line_refusal(run("warp", registered / "out", "--points", tmp_path / "extra.csv", "-o", tmp_path / "b"),
                     "line 3 has 3 cells, the header 2")
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("option", ["--pairs", "--points"])
def test_tables_that_are_not_regular_files_are_refused(registered, tmp_path, option):
    """Issue 36, item 13: --pairs /dev/zero ran out of memory."""
    command = ["register", "--pairs", "/dev/zero", "-o", tmp_path / "r"] if option == "--pairs" else \
        ["warp", registered / "out", "--points", "/dev/zero", "-o", tmp_path / "r"]
    one_line_refusal(run(*command), "/dev/zero: ")
    assert "not a regular file" in run(*command).output
    assert not (tmp_path / "r").exists()


def _nifti_header(dims, spacing=(1.0, 1.0), bitpix=32, datatype=16):
    import struct

    header = bytearray(352)
    struct.pack_into("<i", header, 0, 348)
    struct.pack_into("<8h", header, 40, *(list(dims) + [1] * (8 - len(dims))))
    struct.pack_into("<h", header, 70, datatype)
    struct.pack_into("<h", header, 72, bitpix)
    struct.pack_into("<8f", header, 76, 1.0, *spacing, 1, 1, 1, 1, 1)
    struct.pack_into("<f", header, 108, 352.0)
    header[344:348] = b"n+1\0"
    return bytes(header)


def test_sizes_a_field_file_declares_are_checked_before_reading(tmp_path):
    """Issue 36, items 13 and 14: a 1 KB .npy declaring 80 GB gave a bare MemoryError; a
    480-byte NIfTI header was taken for a 16000x16000 field (8.1 GB); a negative spacing
    flipped the field's sign unseen."""
    import gzip

    huge = tmp_path / "huge.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((2, 2, 2), np.float32))
    header["shape"] = (100000, 100000, 2)
    with open(huge, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(b"\0" * 512)
    one_line_refusal(run("invert", huge, "-o", tmp_path / "a"), "more than any field")
    short = tmp_path / "short.npy"
    header["shape"] = (1000, 1000, 2)
    with open(short, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(b"\0" * 512)
    one_line_refusal(run("invert", short, "-o", tmp_path / "b"), "but holds 512")
    (tmp_path / "empty.nii.gz").write_bytes(gzip.compress(_nifti_header([5, 16000, 16000, 1, 1, 2])))
    one_line_refusal(run("invert", tmp_path / "empty.nii.gz", "-o", tmp_path / "c"), "but holds 0")
    data = np.zeros((8, 8, 2), np.float32).tobytes()
    (tmp_path / "flipped.nii").write_bytes(_nifti_header([5, 8, 8, 1, 1, 2], spacing=(-1.0, 1.0)) + data)
    one_line_refusal(run("invert", tmp_path / "flipped.nii", "-o", tmp_path / "d"), "spacing must be positive")
    assert not any((tmp_path / name).exists() for name in "abcd")


@pytest.mark.parametrize("edit,expected", [
    ({"nifti_spacing": "wide"}, "nifti_spacing must be a positive number"),
    ({"nifti_spacing": -2.0}, "nifti_spacing must be a positive number"),
    ({"velocity": {"file": "../../etc/passwd", "integration_steps": 7, "side": 128, "resize": "modern",
                   "box": [0, 0, 128, 128]}}, "'velocity' entry does not describe this field"),
    ({"velocity": {"file": "velocity.npy", "integration_steps": 7, "side": 10 ** 6, "resize": "modern",
                   "box": [0, 0, 128, 128]}}, "'velocity' entry does not describe this field"),
    ({"velocity": {"file": "velocity.npy", "integration_steps": 10 ** 9, "side": 128, "resize": "modern",
                   "box": [0, 0, 128, 128]}}, "'velocity' entry does not describe this field"),
])
def test_an_edited_summary_beside_a_field_is_checked(registered, tmp_path, edit, expected):
    """Issue 36, item 18: an edited summary.json gave raw ValueError/KeyError, a 74.5 GiB
    allocation or a run that never ends."""
    import shutil

    folder = tmp_path / "out"
    shutil.copytree(registered / "out", folder)
    summary = json.loads((folder / "summary.json").read_text())
    summary.update(edit)
    (folder / "summary.json").write_text(json.dumps(summary))
    one_line_refusal(run("invert", folder, "-o", tmp_path / "inverse"), expected)
    assert not (tmp_path / "inverse").exists()
