"""Bad inputs fail with one clear line; interrupted work loses nothing; readers survive fuzzing."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from acregnet_cli.cli import main
from acregnet_cli.datasets.config import merge_settings, read_toml
from acregnet_cli.errors import InputError
from acregnet_cli.io.images import read_image


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def noise_png(path, shape=(64, 64), mode="L"):
    rng = np.random.RandomState(0)
    if mode == "RGB":
        Image.fromarray((rng.rand(*shape, 3) * 255).astype(np.uint8)).save(path)
    else:
        Image.fromarray((rng.rand(*shape) * 255).astype(np.uint8)).save(path)
    return path


def write_truncated(path):
    noise_png(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def write_nan_tiff(path):
    array = np.random.RandomState(0).rand(64, 64).astype(np.float32)
    array[3, 3] = np.nan
    Image.fromarray(array, mode="F").save(path)


BAD_IMAGES = [
    ("missing.png", None, "file not found"),
    ("empty.png", lambda p: p.write_bytes(b""), "not a readable image"),
    ("text.png", lambda p: p.write_text("hello"), "not a readable image"),
    ("truncated.png", write_truncated, "cannot decode image"),
    ("nan.tif", write_nan_tiff, "NaN or infinite"),
    ("flat.png", lambda p: Image.fromarray(np.full((64, 64), 9, np.uint8)).save(p), "constant"),
    ("tiny.png", lambda p: Image.fromarray(np.zeros((1, 64), np.uint8)).save(p), "empty image"),
    ("folder.png", lambda p: p.mkdir(), "is a directory"),
]


@pytest.mark.parametrize("name,make,message", BAD_IMAGES, ids=[b[0] for b in BAD_IMAGES])
def test_bad_moving_image_is_one_clear_line_and_exit_2(untrained_model, tmp_path, name, make, message):
    bad = tmp_path / name
    if make:
        make(bad)
    good = noise_png(tmp_path / "good.png")
    result = run("register", bad, good, "--model", untrained_model, "-o", tmp_path / "out")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("acregnet: error: ") and str(bad) in lines[0]
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert not (tmp_path / "out" / "summary.json").exists()


@pytest.mark.parametrize("kind", ["rgb", "rgba", "palette", "16bit", "la"])
def test_other_pixel_formats_are_accepted(untrained_model, tmp_path, kind):
    rng = np.random.RandomState(1)
    path = tmp_path / f"moving_{kind}.png"
    base = (rng.rand(48, 80) * 255).astype(np.uint8)
    if kind == "rgb":
        Image.fromarray(np.stack([base] * 3, -1)).save(path)
    elif kind == "rgba":
        Image.fromarray(np.stack([base] * 3 + [np.full_like(base, 255)], -1)).save(path)
    elif kind == "palette":
        Image.fromarray(base).convert("P").save(path)
    elif kind == "16bit":
        Image.fromarray(base.astype(np.uint16) * 257).save(path)
    else:
        Image.fromarray(base).convert("LA").save(path)
    result = run("register", path, noise_png(tmp_path / "fixed.png", (48, 80)), "--model", untrained_model,
                 "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["output_size"] == [48, 80]
    if kind == "16bit":
        assert np.array(Image.open(tmp_path / "out" / "warped.png")).dtype == np.uint16
    np.testing.assert_allclose(read_image(path, intensity="dtype")[0], base / 255.0, atol=1.5 / 255)


def test_dicom_monochrome1_is_inverted_rescaled_and_gives_its_spacing(untrained_model, tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    values = (np.arange(64 * 96, dtype=np.uint16).reshape(64, 96) % 4000)
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    path = tmp_path / "cr.dcm"
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.Rows, ds.Columns = values.shape
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 16, 12, 11, 0
    ds.PhotometricInterpretation = "MONOCHROME1"
    ds.RescaleSlope, ds.RescaleIntercept = 2, -100
    ds.PixelSpacing = [0.15, 0.15]
    ds.PixelData = values.tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    image, bits = read_image(path, intensity="dtype")
    expected = (values.max() - values) / float(values.max() - values.min())  # inverted; rescale is affine
    np.testing.assert_allclose(image, expected, atol=1e-5)
    result = run("register", path, path, "--model", untrained_model, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["nifti_spacing"] == pytest.approx(0.15)


def test_very_large_image_is_reduced_before_registration(untrained_model, tmp_path):
    big = noise_png(tmp_path / "big.png", (1000, 1200))
    mask = tmp_path / "mask.png"
    labels = np.zeros((1000, 1200), np.uint8)
    labels[200:800, 300:900] = 255
    Image.fromarray(labels).save(mask)
    result = run("register", big, big, "--mask", mask, "--model", untrained_model, "-o", tmp_path / "out",
                 "--max-side", 300, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    # Registered at 300x250, written at the file's own size (item 7).
    assert summary["registered_size"] == [250, 300] and summary["output_size"] == [1000, 1200]
    assert np.array(Image.open(tmp_path / "out" / "warped_mask.png")).shape == (1000, 1200)
    # Issue 36, item 7: the reduction is said, on standard error, even with --json.
    assert "1200x1000 reduced by 4 to 300x250" in result.stderr
    assert set(np.unique(np.array(Image.open(tmp_path / "out" / "warped_mask.png")))) <= {0, 255}


def test_mask_of_another_size_is_refused(untrained_model, tmp_path):
    image = noise_png(tmp_path / "i.png")
    mask = tmp_path / "m.png"
    Image.fromarray(np.zeros((32, 32), np.uint8)).save(mask)
    result = run("register", image, image, "--mask", mask, "--model", untrained_model, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "mask is 32x32, its image 64x64" in result.output


def test_corrupt_or_foreign_model_files_are_refused(untrained_model, tmp_path):
    image = noise_png(tmp_path / "i.png")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.json").write_text((untrained_model / "model.json").read_text())
    (broken / "vector_cnn.weights.h5").write_bytes(b"not hdf5")
    result = run("register", image, image, "--model", broken, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "corrupt" in result.output
    (broken / "model.json").write_text("{not json")
    result = run("register", image, image, "--model", broken, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "unreadable model description" in result.output
    result = run("register", image, image, "--model", tmp_path / "nowhere", "-o", tmp_path / "o")
    assert result.exit_code == 2 and "model not found" in result.output


def test_unexpected_failures_are_one_line_unless_debug(untrained_model, tmp_path, monkeypatch):
    import acregnet_cli.workflows.register as pipeline

    def boom(*args, **kwargs):
        raise RuntimeError("simulated failure\nsecond line")

    monkeypatch.setattr(pipeline, "register_pairs", boom)
    image = noise_png(tmp_path / "i.png")
    result = run("register", image, image, "--model", untrained_model, "-o", tmp_path / "o")
    assert result.exit_code == 1
    # A library's message of several lines is joined into one: nothing of it is lost.
    assert result.output.strip() == ("acregnet: error: RuntimeError: simulated failure; second line "
                                     "(rerun with --debug for the traceback)")
    with pytest.raises(RuntimeError):
        CliRunner().invoke(main, ["--debug", "register", str(image), str(image), "--model", str(untrained_model),
                                  "-o", str(tmp_path / "o")], catch_exceptions=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_fuzz_image_reader_raises_only_input_errors(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "x.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + data if data[:1] == b"\0" else data)
    try:
        image, _ = read_image(path)
    except InputError as exc:
        assert str(path) in str(exc)
    else:
        assert image.ndim == 2 and np.all(np.isfinite(image))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=200))
def test_fuzz_config_reader_raises_only_input_errors(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzzcfg") / "c.toml"
    path.write_text(text, encoding="utf-8")
    defaults = {"iterations": 10, "learning_rate": 1e-3, "name": "x", "flag": False, "sizes": [64]}
    try:
        merged = merge_settings(defaults, read_toml(path), str(path))
    except InputError as exc:
        assert str(path) in str(exc)
    else:
        assert set(merged) == set(defaults)
        assert isinstance(merged["iterations"], int) and isinstance(merged["learning_rate"], float)


@pytest.mark.slow
def test_training_killed_mid_run_resumes_from_last_checkpoint(synthetic_dataset, tmp_path):
    """kill -9 a training process while it checkpoints, then --resume to the end."""
    root, config = synthetic_dataset
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "acregnet_cli.cli", "train-reg", "--dataset", str(config), "--data-dir",
               str(root), "-o", str(run_dir), "--variant", "regnet", "--batch-size", "2", "--iterations", "400",
               "--checkpoint-every", "1", "--log-every", "1", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    # Kill as soon as a few checkpoints exist: saves happen every iteration, so likely mid-save.
    while time.time() < deadline:
        state = run_dir / "checkpoints" / "checkpoint"
        if state.exists() and "ckpt-5" in "".join(p.name for p in (run_dir / "checkpoints").iterdir()):
            break
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (run_dir / "vector_cnn.weights.h5").exists()
    result = run("train-reg", "--dataset", config, "--data-dir", root, "-o", run_dir, "--variant", "regnet",
                 "--batch-size", 2, "--iterations", 400, "--checkpoint-every", 50, "--log-every", 1, "--quiet",
                 "--resume", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert 4 <= summary["resumed_from"] < 400  # ckpt-5 may have been cut mid-save: 4 is then the last good one
    rows = (run_dir / "log.csv").read_text().splitlines()[1:]
    assert [int(r.split(",")[0]) for r in rows] == list(range(1, 401))


def test_moving_and_fixed_of_different_sizes_register_in_the_fixed_frame(untrained_model, tmp_path):
    moving = noise_png(tmp_path / "moving.png", (120, 90))
    fixed = noise_png(tmp_path / "fixed.png", (64, 80))
    mask = tmp_path / "mask.png"
    labels = np.zeros((120, 90), np.uint8)
    labels[30:90, 20:70] = 255
    Image.fromarray(labels).save(mask)
    result = run("register", moving, fixed, "--mask", mask, "--model", untrained_model, "-o", tmp_path / "out",
                 "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["output_size"] == [64, 80] and summary["moving_size"] == [120, 90]
    assert np.array(Image.open(tmp_path / "out" / "warped_mask.png")).shape == (64, 80)


@pytest.mark.slow
def test_elastix_workers_end_when_evaluate_is_killed(synthetic_dataset_256, tmp_path):
    root, config = synthetic_dataset_256
    process = subprocess.Popen([sys.executable, "-m", "acregnet_cli.cli", "evaluate", "--dataset", str(config),
                                "--data-dir", str(root), "--method", "elastix", "--jobs", "1", "-o",
                                str(tmp_path / "eval"), "--quiet"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    children = []
    deadline = time.time() + 120
    while time.time() < deadline and not children:
        found = subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()
        children = [int(pid) for pid in found]
        time.sleep(0.2)
    assert children, "evaluate started no worker"
    time.sleep(3)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    time.sleep(3)
    alive = []
    for pid in children:
        try:
            os.kill(pid, 0)
            alive.append(pid)
        except ProcessLookupError:
            pass
    for pid in alive:  # do not leave them behind even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert not alive
