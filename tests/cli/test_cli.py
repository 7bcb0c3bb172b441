"""The command line end to end on a synthetic dataset written by the tests."""

import csv
import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from acregnet_cli.cli import main


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    return result


@pytest.fixture(scope="module")
def trained(synthetic_dataset, tmp_path_factory):
    """A tiny autoencoder and AC-RegNet trained on the synthetic dataset."""
    root, config = synthetic_dataset
    runs = tmp_path_factory.mktemp("runs")
    ae = runs / "ae"
    result = run("train-ae", "--dataset", config, "--data-dir", root, "-o", ae, "--iterations", 30,
                 "--log-every", 10, "--checkpoint-every", 10, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    reg = runs / "ac"
    result = run("train-reg", "--dataset", config, "--data-dir", root, "-o", reg, "--variant", "ac-regnet",
                 "--ae-run", ae, "--iterations", 20, "--batch-size", 8, "--log-every", 5,
                 "--checkpoint-every", 10, "--validation-fraction", 0.25, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    return root, config, ae, reg, json.loads(result.output)


def test_training_writes_a_complete_run_directory(trained):
    _, _, ae, reg, summary = trained
    for run_dir, weights in ((ae, ["encoder.weights.h5", "decoder.weights.h5"]), (reg, ["vector_cnn.weights.h5"])):
        for name in ["config.toml", "log.csv", "model.json", "summary.json"] + weights:
            assert (run_dir / name).is_file(), name
        assert any((run_dir / "checkpoints").iterdir())
    with open(reg / "log.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["iteration"]) for r in rows] == [5, 10, 15, 20]
    assert set(rows[0]) == {"iteration", "seconds", "loss", "ncc", "tv", "ce", "ae"}
    assert "variant = \"ac-regnet\"" in (reg / "config.toml").read_text()
    assert summary["validation"]["pairs"] == 64
    # "before" recomputed here from the held-out masks (same seeded draw of 64 pairs);
    # "after" must come from the trained network's warps, so it differs.
    root, config = trained[0], trained[1]
    from acregnet_cli.datasets.config import load_dataset_config
    from acregnet_cli.datasets.layout import carve_validation, load_split
    from acregnet_cli.metrics import mean_dice

    dataset = load_dataset_config(config)
    _, validation = carve_validation(load_split(dataset, root, "train", 64), 0.25, 0)
    rng = np.random.RandomState(0)
    moving, fixed = rng.choice(len(validation), 64), rng.choice(len(validation), 64)
    before = np.mean([mean_dice(validation.labels[m], validation.labels[f], range(1, dataset.num_classes))
                      for m, f in zip(moving, fixed)])
    assert summary["validation"]["dice_before"] == pytest.approx(before, abs=1e-9)
    assert summary["validation"]["dice_after"] != pytest.approx(before, abs=1e-6)


def test_existing_run_is_not_overwritten_without_flag(trained):
    root, config, ae, _, _ = trained
    result = run("train-ae", "--dataset", config, "--data-dir", root, "-o", ae, "--iterations", 5, "--quiet")
    assert result.exit_code == 2
    assert "not empty" in result.output


@pytest.mark.slow
def test_resume_continues_from_the_last_checkpoint_with_the_same_result(synthetic_dataset, tmp_path):
    root, config = synthetic_dataset
    common = ["--dataset", config, "--data-dir", root, "--variant", "regnet", "--batch-size", 4,
              "--log-every", 2, "--checkpoint-every", 4, "--quiet"]
    settings = tmp_path / "dropout.toml"
    settings.write_text("dropout = 0.5\n")  # dropout's seed generators are checkpointed too
    straight = tmp_path / "straight"
    assert run("train-reg", *common, "--config", settings, "-o", straight, "--iterations", 8).exit_code == 0
    interrupted = tmp_path / "interrupted"
    assert run("train-reg", *common, "--config", settings, "-o", interrupted, "--iterations", 4).exit_code == 0
    result = run("train-reg", *common, "--config", settings, "-o", interrupted, "--iterations", 8, "--resume", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["resumed_from"] == 4
    from acregnet_cli.models.files import load_vector_cnn

    a, _ = load_vector_cnn(straight)
    b, _ = load_vector_cnn(interrupted)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_allclose(wa.numpy(), wb.numpy(), rtol=1e-4, atol=1e-5)
    with open(interrupted / "log.csv") as handle:
        assert [int(r["iteration"]) for r in csv.DictReader(handle)] == [2, 4, 6, 8]


def test_ae_variant_without_autoencoder_is_a_usage_error(synthetic_dataset, tmp_path):
    root, config = synthetic_dataset
    result = run("train-reg", "--dataset", config, "--data-dir", root, "--variant", "ae-regnet",
                 "-o", tmp_path / "x", "--iterations", 2, "--quiet")
    assert result.exit_code == 2
    assert "--ae-run" in result.output


def test_register_a_pair_with_mask_writes_all_outputs(trained, tmp_path):
    root, _, _, reg, _ = trained
    base = root / "data" / "Synthetic" / "LR_64"
    moving, fixed = base / "images" / "SYN000.png", base / "images" / "SYN005.png"
    out = tmp_path / "pair"
    result = run("register", moving, fixed, "--model", reg, "--mask", base / "labels" / "SYN000.png",
                 "-o", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert sorted(summary["files"]) == ["field.nii.gz", "field.npy", "warped.png", "warped_mask.png"]
    field = np.load(out / "field.npy")
    assert field.shape == (64, 64, 2)
    warped_mask = np.array(Image.open(out / "warped_mask.png"))
    assert set(np.unique(warped_mask)) <= {0, 10, 20, 30}
    from acregnet_cli.fields import folding_fraction

    assert summary["jacobian_nonpositive_fraction"] == pytest.approx(folding_fraction(field), abs=1e-6)
    import SimpleITK as sitk

    nifti = sitk.GetArrayFromImage(sitk.ReadImage(str(out / "field.nii.gz")))
    np.testing.assert_allclose(nifti[..., 0], field[..., 1], atol=1e-5)  # ITK order: x first
    again = run("register", moving, fixed, "--model", reg, "-o", out)
    assert again.exit_code == 2 and "--overwrite" in again.output


def test_register_any_size_rgb_and_16_bit(trained, tmp_path):
    _, _, _, reg, _ = trained
    rng = np.random.RandomState(0)
    moving = tmp_path / "moving.png"
    fixed = tmp_path / "fixed.tif"
    Image.fromarray((rng.rand(90, 120, 3) * 255).astype(np.uint8)).save(moving)
    Image.fromarray((rng.rand(90, 120) * 65535).astype(np.uint16)).save(fixed)
    result = run("register", moving, fixed, "--model", reg, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "out" / "field.npy").shape == (90, 120, 2)
    assert np.array(Image.open(tmp_path / "out" / "warped.png")).shape == (90, 120)


def test_register_pairs_csv_in_one_process_and_skips_done_pairs(trained, tmp_path):
    root, _, _, reg, _ = trained
    base = root / "data" / "Synthetic" / "LR_64"
    rows = [("images/SYN001.png", "images/SYN002.png", "labels/SYN001.png", "a"),
            ("images/SYN003.png", "images/SYN004.png", "", "b")]
    pairs = base / "pairs.csv"
    with open(pairs, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["moving", "fixed", "moving_mask", "name"])
        writer.writerows(rows)
    out = tmp_path / "batch"
    result = run("register", "--pairs", pairs, "--model", reg, "-o", out, "--json")
    assert result.exit_code == 0, result.output
    assert (out / "a" / "warped_mask.png").exists() and not (out / "b" / "warped_mask.png").exists()
    again = json.loads(run("register", "--pairs", pairs, "--model", reg, "-o", out, "--json").output)
    assert [item.get("skipped") for item in again] == [True, True]


def test_bad_pairs_csv_reports_every_bad_row(trained, tmp_path):
    _, _, _, reg, _ = trained
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("moving,fixed,name\nnope.png,also.png,x\n,,y\nnope.png,nope.png,../escape\n")
    result = run("register", "--pairs", pairs, "--model", reg, "-o", tmp_path / "o")
    assert result.exit_code == 2
    assert "3 bad row(s)" in result.output and "line 2" in result.output and "line 4" in result.output
    pairs.write_text("source,target\na,b\n")
    result = run("register", "--pairs", pairs, "--model", reg, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "missing column" in result.output


@pytest.mark.parametrize("content,message", [
    (b"not an image at all", "not a readable image"),
    (None, "file not found"),
])
def test_register_bad_image_fails_with_clear_message(trained, tmp_path, content, message):
    _, _, _, reg, _ = trained
    good = tmp_path / "good.png"
    Image.fromarray((np.random.RandomState(0).rand(64, 64) * 255).astype(np.uint8)).save(good)
    bad = tmp_path / "bad.png"
    if content is not None:
        bad.write_bytes(content)
    result = run("register", bad, good, "--model", reg, "-o", tmp_path / "o")
    assert result.exit_code == 2
    assert str(bad) in result.output and message in result.output
    assert not (tmp_path / "o" / "summary.json").exists()


def test_register_constant_image_is_refused(trained, tmp_path):
    _, _, _, reg, _ = trained
    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((64, 64), 7, np.uint8)).save(flat)
    result = run("register", flat, flat, "--model", reg, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "constant" in result.output


def test_register_with_wrong_model_is_refused(trained, tmp_path):
    _, _, ae, _, _ = trained
    image = tmp_path / "i.png"
    Image.fromarray((np.random.RandomState(0).rand(64, 64) * 255).astype(np.uint8)).save(image)
    result = run("register", image, image, "--model", ae, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "not a registration network" in result.output


def test_phantom_and_demo_commands(trained, tmp_path):
    _, _, _, reg, _ = trained
    result = run("phantom", "-o", tmp_path / "ph", "-n", 3, "--size", 64, "--json")
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.output)["subjects"]) == 3
    result = run("demo", "-o", tmp_path / "demo", "--model", reg, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert 0 < summary["dice_before"] < 1 and 0 <= summary["dice_after"] <= 1
    assert (tmp_path / "demo" / "overlay.png").stat().st_size > 10000
    assert run("demo", "-o", tmp_path / "demo", "--model", reg).exit_code == 2


@pytest.mark.slow
def test_training_at_256_with_a_64_pixel_autoencoder(synthetic_dataset_256, tmp_path):
    root, config = synthetic_dataset_256
    assert run("train-ae", "--dataset", config, "--data-dir", root, "-o", tmp_path / "ae", "--iterations", 3,
               "--quiet").exit_code == 0
    result = run("train-reg", "--dataset", config, "--data-dir", root, "-o", tmp_path / "reg", "--size", 256,
                 "--ae-run", tmp_path / "ae", "--batch-size", 2, "--iterations", 2, "--quiet", "--json")
    assert result.exit_code == 0, result.output
    description = json.loads((tmp_path / "reg" / "model.json").read_text())
    assert description["size"] == 256
    rows = (tmp_path / "reg" / "log.csv").read_text().splitlines()
    assert rows[0].endswith("ce,ae") and len(rows) == 2  # header + the final iteration


@pytest.mark.slow
def test_autoencoder_training_with_mask_augmentation(synthetic_dataset, tmp_path):
    root, config = synthetic_dataset
    common = ["train-ae", "--dataset", config, "--data-dir", root, "--iterations", 4, "--quiet"]
    result = run(*common, "-o", tmp_path / "aug", "--augment-rotation", 10, "--augment-scale", 0.1,
                 "--augment-shift", 0.05)
    assert result.exit_code == 0, result.output
    assert "augment_rotation = 10.0" in (tmp_path / "aug" / "config.toml").read_text()
    result = run(*common, "-o", tmp_path / "bad", "--augment-scale", 1.5)
    assert result.exit_code == 2
    assert "--augment-scale must be in [0.0, 0.9], got 1.5" in result.output
    assert not (tmp_path / "bad").exists()


def test_every_command_and_option_has_help_text():
    """Issue 36, item 3: warp, invert and compose had blank help (docstrings built by
    concatenation are no docstrings)."""
    import click

    from acregnet_cli.cli import all_commands

    blank = []
    for name, command in all_commands():
        if not (command.help or "").strip() or not command.get_short_help_str().strip():
            blank.append(name)
        for parameter in command.params:
            if isinstance(parameter, click.Option) and not (parameter.help or "").strip():
                blank.append(f"{name} {parameter.opts[-1]}")
    assert blank == []


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1.5"])
def test_corpus_min_ncc_must_be_a_correlation(tmp_path, value):
    """Issue 36, item 24: --min-ncc nan and inf were accepted."""
    (tmp_path / "images").mkdir()
    result = CliRunner().invoke(main, ["corpus", str(tmp_path / "images"), "-o", str(tmp_path / "out"),
                                       "--min-ncc", value])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--min-ncc" in lines[0]
    assert not (tmp_path / "out").exists()


def test_an_unknown_fold_names_the_folds(data_root, tmp_path):
    """Issue 36, item 10: 'jsrt:tran' said only 'split list not found'."""
    result = CliRunner().invoke(main, ["segment", "--atlases", "jsrt:tran", "--targets-from", "jsrt:test",
                                       "--data-dir", str(data_root), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "'tran'" in lines[0] and "test, train" in lines[0]
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_segment_warns_when_a_target_is_one_of_the_atlases(tmp_path):
    """Issue 36, item 10: a target among the atlases (NCC 0.9998) scored optimistically, unsaid."""
    from acregnet_cli.datasets.phantom import make_subject

    rng = np.random.RandomState(4)
    for sub in ("images", "labels"):
        (tmp_path / "atlases" / sub).mkdir(parents=True)
    for index in range(3):
        image, labels = make_subject(rng, 96)
        Image.fromarray(np.uint8(image * 255)).save(tmp_path / "atlases" / "images" / f"a{index}.png")
        Image.fromarray(labels.astype(np.uint8)).save(tmp_path / "atlases" / "labels" / f"a{index}.png")
    other, _ = make_subject(rng, 96)
    Image.fromarray(np.uint8(other * 255)).save(tmp_path / "new.png")
    copy = tmp_path / "copy.png"
    copy.write_bytes((tmp_path / "atlases" / "images" / "a1.png").read_bytes())
    result = CliRunner().invoke(main, ["segment", str(copy), str(tmp_path / "new.png"), "--atlases",
                                       str(tmp_path / "atlases"), "--k", "2", "-o", str(tmp_path / "out"),
                                       "--no-overlay", "--json"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "copy" in warnings[0] and "a1" in warnings[0]


@pytest.mark.parametrize("given", [None, "2"])
def test_the_command_line_runs_numpy_with_one_blas_thread_unless_told(given):
    # OpenBLAS's spinning workers beside TensorFlow's pool cost corpus a fifth of its CPU
    # (benchmarks/results/blas-threads-cpu-2core.md); a user's own setting still wins.
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    if given:
        env["OPENBLAS_NUM_THREADS"] = given
    script = ("import acregnet_cli.cli, numpy\n"
              "from threadpoolctl import threadpool_info\n"
              "print(max(i['num_threads'] for i in threadpool_info() if i['user_api'] == 'blas'))")
    found = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    # OpenBLAS never runs more threads than the machine has cores.
    assert int(found.stdout) == (min(int(given), os.cpu_count()) if given else 1)
