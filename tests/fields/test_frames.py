"""Images of other sizes: a moving image of another size than the fixed one, and images
reduced by --max-side. ``warp`` reproduces ``register``'s outputs from the moving file,
points are in the files' own pixels, and outputs are written at the files' sizes
(issue 36, items 1 and 7)."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from acregnet_cli.cli import main
from acregnet_cli.fields.frames import field_at_stored_size, grid_to_moving, moving_to_grid, warp_moving


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def pixels(path):
    return np.asarray(Image.open(path))


@pytest.fixture(scope="module")
def small_moving(tmp_path_factory):
    """A 64x56 moving image (and mask) registered onto a 128x128 fixed image."""
    from conftest import write_phantom_pair

    folder = tmp_path_factory.mktemp("frames")
    moving, fixed, mask = write_phantom_pair(folder, seed=5)
    for path, resample in ((moving, Image.BILINEAR), (mask, Image.NEAREST)):
        Image.open(path).resize((56, 64), resample).save(path)
    result = run("register", moving, fixed, "--mask", mask, "-o", folder / "out")
    assert result.exit_code == 0, result.output
    return folder


def test_warp_reproduces_register_for_a_moving_image_of_another_size(small_moving, tmp_path):
    """Item 1: the 56x64 moving image was refused ('warp inputs of the size the field was
    made for') by the field register made for it."""
    out = small_moving / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["moving_size"] == [64, 56] and summary["output_size"] == [128, 128]
    result = run("warp", out, small_moving / "m.png", "--mask", small_moving / "mask.png", "-o", tmp_path / "w")
    assert result.exit_code == 0, result.output
    assert np.array_equal(pixels(tmp_path / "w" / "m.png"), pixels(out / "warped.png"))
    assert np.array_equal(pixels(tmp_path / "w" / "mask.png"), pixels(out / "warped_mask.png"))


def test_warp_refuses_a_third_size_naming_both_it_takes(small_moving, tmp_path):
    Image.fromarray(np.zeros((50, 50), np.uint8) + 9).save(tmp_path / "odd.png")
    result = run("warp", small_moving / "out", tmp_path / "odd.png", "-o", tmp_path / "w")
    assert result.exit_code == 2, result.output
    assert "50x50 pixels" in result.output and "128x128" in result.output and "56x64" in result.output
    assert not (tmp_path / "w").exists()


def test_points_are_in_the_moving_files_pixels(small_moving, tmp_path):
    """Item 1: fixed-to-moving points came back in the resized moving frame, with no word."""
    out = small_moving / "out"
    field = np.load(out / "field.npy").astype(np.float64)
    (tmp_path / "p.csv").write_text("x,y\n40,30\n100.5,90.25\n")
    result = run("warp", out, "--points", tmp_path / "p.csv", "-o", tmp_path / "fwd", "--json")
    assert result.exit_code == 0, result.output
    rows = (tmp_path / "fwd" / "p.csv").read_text().splitlines()[1:]
    mapped = np.array([[float(v) for v in row.split(",")[2:4]] for row in rows])  # x, y
    # Where the moving image's pixel lies: inside the 56x64 file, and where the field says.
    assert (mapped[:, 0] < 56).all() and (mapped[:, 1] < 64).all()
    from acregnet_cli.fields import map_points

    expected = grid_to_moving(map_points([[30.0, 40.0], [90.25, 100.5]], field), (64, 56), (128, 128))
    np.testing.assert_allclose(mapped[:, ::-1], expected, atol=1e-3)
    # And back: moving-image points (in the file's pixels) to the fixed image.
    back_in = tmp_path / "m.csv"
    back_in.write_text("x,y\n" + "\n".join(f"{x},{y}" for x, y in mapped) + "\n")
    result = run("warp", out, "--points", back_in, "--direction", "moving-to-fixed", "-o", tmp_path / "back")
    assert result.exit_code == 0, result.output
    back = [[float(v) for v in row.split(",")[2:4]] for row in (tmp_path / "back" / "m.csv").read_text().splitlines()[1:]]
    np.testing.assert_allclose(back, [[40, 30], [100.5, 90.25]], atol=0.05)


def test_the_moving_frame_round_trips_and_matches_itk_moving_frame():
    from acregnet_cli.fields.frames import itk_moving_frame

    points = np.array([[0.0, 0.0], [10.5, 3.25], [63.0, 55.0]])
    grid = moving_to_grid(points, (64, 56), (96, 128))
    np.testing.assert_allclose(grid_to_moving(grid, (64, 56), (96, 128)), points)
    frame = itk_moving_frame((64, 56), (96, 128), 1.0)
    # ITK places moving pixel (column i, row j) at origin + spacing * (i, j), in fixed pixels.
    np.testing.assert_allclose(grid[:, ::-1], np.array(frame["origin"]) + np.array(frame["spacing"]) * points[:, ::-1])


def test_warp_moving_matches_the_registrar_at_another_size():
    import acregnet_cli.api as acr
    from acregnet_cli.datasets.phantom import make_subject

    rng = np.random.RandomState(3)
    (moving, mask), (fixed, _) = make_subject(rng, 96), make_subject(rng, 128)
    fixed = fixed[10:118]  # not square: the fixed box sits inside the square the network saw
    result = acr.register(moving, fixed, mask=mask, intensity=(0.0, 1.0))
    np.testing.assert_allclose(warp_moving(moving, result.field), result.warped, atol=1e-4)
    assert np.array_equal(warp_moving(mask, result.field, labels=True), result.warped_mask)


def test_a_field_found_on_a_reduced_image_is_read_at_the_stored_pixels():
    rows, columns = np.meshgrid(np.arange(8.0), np.arange(6.0), indexing="ij")
    small = np.stack([0.5 * rows, 0.25 * columns], axis=-1)  # affine in the reduced grid
    big = field_at_stored_size(small, 2, (16, 12))
    stored_rows, stored_columns = np.meshgrid(np.arange(16.0), np.arange(12.0), indexing="ij")
    # p = (s - 0.5) / 2 on the reduced grid, displacement read there and scaled by 2.
    inside = (slice(1, 15), slice(1, 11))
    np.testing.assert_allclose(big[..., 0][inside], (0.5 * (stored_rows - 0.5) / 2 * 2)[inside], atol=1e-6)
    np.testing.assert_allclose(big[..., 1][inside], (0.25 * (stored_columns - 0.5) / 2 * 2)[inside], atol=1e-6)


def test_outputs_are_written_at_the_files_sizes_unless_asked(tmp_path):
    """Item 7: a fixed image over --max-side was halved with no message and warped.png
    came out at half its size."""
    from conftest import write_phantom_pair

    moving, fixed, mask = write_phantom_pair(tmp_path, seed=8, size=256)
    full = run("register", moving, fixed, "--mask", mask, "-o", tmp_path / "full", "--max-side", 128, "--jacobian")
    assert full.exit_code == 0, full.output
    assert "reduced by 2 to 128x128 (--max-side 128)" in full.stderr and "files' own sizes" in full.stderr
    summary = json.loads((tmp_path / "full" / "summary.json").read_text())
    assert summary["output_size"] == [256, 256] and summary["registered_size"] == [128, 128]
    for name in ("warped.png", "warped_mask.png"):
        assert pixels(tmp_path / "full" / name).shape[:2] == (256, 256), name
    assert pixels(tmp_path / "full" / "jacobian.png").shape[:2] == (256 + 30, 256)  # its key below
    assert np.load(tmp_path / "full" / "field.npy").shape == (256, 256, 2)
    small = run("register", moving, fixed, "--mask", mask, "-o", tmp_path / "small", "--max-side", 128,
                "--reduced-outputs")
    assert small.exit_code == 0 and "at that size (--reduced-outputs)" in small.stderr
    reduced = pixels(tmp_path / "small" / "warped_mask.png")
    assert reduced.shape == (128, 128)
    # The same registration, at two sizes: the masks agree but for boundary pixels.
    assert np.mean(pixels(tmp_path / "full" / "warped_mask.png")[::2, ::2] != reduced) < 0.02
    # And the full-size outputs are what warp makes of the files themselves.
    result = run("warp", tmp_path / "full", moving, "--mask", mask, "-o", tmp_path / "w")
    assert result.exit_code == 0, result.output
    assert np.array_equal(pixels(tmp_path / "w" / "m.png"), pixels(tmp_path / "full" / "warped.png"))
    assert np.array_equal(pixels(tmp_path / "w" / "mask.png"), pixels(tmp_path / "full" / "warped_mask.png"))


def test_register_scores_the_warped_mask_against_the_fixed_mask(tmp_path):
    """Issue 35, item 5: register --fixed-mask writes Dice and HD per structure."""
    from conftest import write_phantom_pair

    from acregnet_cli.metrics import dice

    moving, fixed, mask = write_phantom_pair(tmp_path, seed=12)
    fixed_mask = tmp_path / "fixed_mask.png"
    # The fixed image's own mask: the phantom's second subject, drawn as the first was.
    from acregnet_cli.datasets.phantom import make_subject

    rng = np.random.RandomState(12)
    make_subject(rng, 128)
    Image.fromarray(make_subject(rng, 128)[1]).save(fixed_mask)
    result = run("register", moving, fixed, "--mask", mask, "--fixed-mask", fixed_mask, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "mean Dice" in result.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    warped, truth = pixels(tmp_path / "out" / "warped_mask.png"), pixels(fixed_mask)
    assert set(summary["scores"]["per_label"]) == {"1", "2", "3"}
    for value, score in summary["scores"]["per_label"].items():
        assert score["dice"] == pytest.approx(dice(warped == int(value), truth == int(value)), abs=1e-6)
        assert score["hd"] >= 0
    # In a pairs table too, and refused without the moving mask.
    (tmp_path / "pairs.csv").write_text(f"moving,fixed,moving_mask,fixed_mask\n{moving},{fixed},{mask},{fixed_mask}\n")
    result = run("register", "--pairs", tmp_path / "pairs.csv", "-o", tmp_path / "many")
    assert result.exit_code == 0, result.output
    table = (tmp_path / "many" / "registrations.csv").read_text().splitlines()
    assert "mean_dice" in table[0] and f"{summary['scores']['mean_dice']:.4f}"[:5] in table[1]
    refused = run("register", moving, fixed, "--fixed-mask", fixed_mask, "-o", tmp_path / "no")
    assert refused.exit_code == 2 and "give the moving mask too" in refused.output
    assert not (tmp_path / "no").exists()


def test_warp_points_with_reference_points_give_the_registration_error(small_moving, tmp_path):
    """Issue 35, item 5: warp --points with reference points writes the TRE."""
    out = small_moving / "out"
    (tmp_path / "p.csv").write_text("name,x,y\na,40,30\nb,100.5,90.25\nc,64,64\n")
    plain = run("warp", out, "--points", tmp_path / "p.csv", "-o", tmp_path / "plain")
    assert plain.exit_code == 0, plain.output
    mapped = {row.split(",")[0]: np.array([float(v) for v in row.split(",")[3:5]])
              for row in (tmp_path / "plain" / "p.csv").read_text().splitlines()[1:]}
    # Reference points 1 px to the right of where the field sends each, listed in another order.
    (tmp_path / "ref.csv").write_text("name,x,y\n" + "\n".join(
        f"{name},{mapped[name][0] + 1},{mapped[name][1]}" for name in ("c", "a", "b")) + "\n")
    result = run("warp", out, "--points", tmp_path / "p.csv", "--reference-points", tmp_path / "ref.csv", "-o",
                 tmp_path / "tre", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)[0]
    assert report["tre_mean_px"] == pytest.approx(1.0, abs=1e-3) and report["tre_max_px"] == pytest.approx(1.0, abs=1e-3)
    assert report["initial_mean_px"] > 0
    errors = [float(row.split(",")[-1]) for row in (tmp_path / "tre" / "p.csv").read_text().splitlines()[1:]]
    assert errors == pytest.approx([1.0, 1.0, 1.0], abs=1e-3)
    (tmp_path / "short.csv").write_text("x,y\n1,2\n")
    (tmp_path / "q.csv").write_text("x,y\n40,30\n50,60\n")
    short = run("warp", out, "--points", tmp_path / "q.csv", "--reference-points", tmp_path / "short.csv", "-o",
                tmp_path / "bad")
    assert short.exit_code == 2 and "1 reference points for 2 points" in short.output
