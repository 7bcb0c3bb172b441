"""Bad input and faults, as a careless or hostile user brings them: each gets one line naming
the file or option, exit 2 (1 for a failure at run time, 130 for Ctrl-C), no traceback, and
nothing written. One table holds the cases; each row is one class of defect."""

import errno
import struct
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_phantom_pair
from PIL import Image

from acregnet_cli.cli import main
from acregnet_cli.errors import RunFailure


def png_header_only(path, width, height):
    """A PNG that declares ``width`` x ``height`` pixels in a few bytes (a decompression bomb)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    write_phantom_pair(folder, seed=4)
    mask = np.asarray(Image.open(folder / "mask.png"))
    Image.fromarray((np.arange(128 * 128).reshape(128, 128) % 1000).astype(np.uint16)).save(folder / "noise_mask.png")
    Image.fromarray(np.where(mask > 0, np.nan, 0).astype(np.float32)).save(folder / "nan_mask.tif")
    Image.fromarray((mask * 0.5).astype(np.float32)).save(folder / "fraction_mask.tif")
    png_header_only(folder / "bomb.png", 30000, 30000)
    big = (np.tile(np.linspace(0, 65535, 300), (300, 1))).astype(np.uint16)
    Image.fromarray(big).save(folder / "big16.png")
    (folder / "settings.toml").write_text("batch_size = 4611686018427387904\n")
    (folder / "dropout.toml").write_text("dropout = 1.0\n")
    (folder / "final.toml").write_text("lr_schedule = \"cosine\"\nfinal_lr_fraction = 0.0\n")
    return folder


def register(files, *extra):
    return ["register", str(files / "m.png"), str(files / "f.png"), *extra]


def train(files, *extra):
    return ["train-reg", "--dataset", "jsrt", "--data-dir", str(files), "--variant", "regnet", *extra]


# (case, arguments, what the one line must say)
CASES = [
    ("decompression bomb", lambda f: ["register", str(f / "bomb.png"), str(f / "f.png")], "bomb.png: image larger than"),
    ("bomb as mask", lambda f: register(f, "--mask", str(f / "bomb.png")), "bomb.png: mask larger than"),
    ("mask with 1000 values", lambda f: register(f, "--mask", str(f / "noise_mask.png")),
     "noise_mask.png: 1000 distinct values"),
    ("float mask with NaN", lambda f: register(f, "--mask", str(f / "nan_mask.tif")), "NaN or infinite"),
    ("fractional float mask", lambda f: register(f, "--mask", str(f / "fraction_mask.tif")), "fractional values"),
    ("--max-side too small", lambda f: register(f, "--max-side", "10"), "'--max-side'"),
    ("--max-side negative", lambda f: register(f, "--max-side", "-1"), "'--max-side'"),
    ("--batch-size 0", lambda f: register(f, "--batch-size", "0"), "'--batch-size'"),
    ("--batch-size negative", lambda f: register(f, "--batch-size", "-3"), "'--batch-size'"),
    ("--spacing nan", lambda f: register(f, "--spacing", "nan"), "'--spacing'"),
    ("--spacing 0", lambda f: register(f, "--spacing", "0"), "'--spacing'"),
    ("--spacing negative", lambda f: register(f, "--spacing", "-1"), "'--spacing'"),
    ("--passes 0", lambda f: register(f, "--passes", "0"), "'--passes'"),
    ("qc --threshold nan", lambda f: ["qc", str(f / "mask.png"), "--images", str(f / "m.png"), "--references",
                                      "jsrt:test", "--threshold", "nan", "-o", str(f / "out")], "'--threshold'"),
    ("qc --max-references 0", lambda f: ["qc", str(f / "mask.png"), "--images", str(f / "m.png"), "--references",
                                         "jsrt:test", "--max-references", "0", "-o", str(f / "out")],
     "'--max-references'"),
    ("segment --k 0", lambda f: ["segment", str(f / "m.png"), "--atlases", "jsrt:train", "--k", "0",
                                 "-o", str(f / "out")], "'--k'"),
    ("preprocess --sizes 0", lambda f: ["preprocess", str(f), "-o", str(f / "out"), "--sizes", "0"], "--sizes"),
    ("preprocess --sizes huge", lambda f: ["preprocess", str(f), "-o", str(f / "out"), "--sizes", "100000"],
     "--sizes"),
    ("evaluate --jobs 0", lambda f: ["evaluate", "--dataset", "jsrt", "--method", "identity", "--jobs", "0",
                                     "-o", str(f / "out")], "'--jobs'"),
    ("--iterations negative", lambda f: train(f, "--iterations", "-5", "-o", str(f / "out")),
     "--iterations must be in [1,"),
    ("--batch-size 0 (training)", lambda f: train(f, "--batch-size", "0", "-o", str(f / "out")),
     "--batch-size must be in [1,"),
    ("--log-every 0", lambda f: train(f, "--log-every", "0", "-o", str(f / "out")), "--log-every must be in"),
    ("--checkpoint-every 0", lambda f: train(f, "--checkpoint-every", "0", "-o", str(f / "out")),
     "--checkpoint-every must be in"),
    ("--learning-rate nan", lambda f: train(f, "--learning-rate", "nan", "-o", str(f / "out")),
     "--learning-rate must be in [0.0, 1.0], got nan"),
    ("--learning-rate negative", lambda f: train(f, "--learning-rate", "-0.1", "-o", str(f / "out")),
     "--learning-rate must be in"),
    ("--lambda-ce negative", lambda f: train(f, "--lambda-ce", "-1", "-o", str(f / "out")), "--lambda-ce must be in"),
    ("--seed negative", lambda f: train(f, "--seed", "-1", "-o", str(f / "out")), "--seed must be in"),
    ("batch size 2**62 in TOML", lambda f: train(f, "--config", str(f / "settings.toml"), "-o", str(f / "out")),
     "settings.toml: batch_size must be in [1, 4096]"),
    ("dropout 1.0 in TOML", lambda f: train(f, "--config", str(f / "dropout.toml"), "-o", str(f / "out")),
     "dropout.toml: dropout must be in [0.0, 1.0)"),
    # Issue 36, item 13: read until memory ran out.
    ("--config /dev/zero", lambda f: train(f, "--config", "/dev/zero", "-o", str(f / "out")),
     "/dev/zero: configuration file is not a regular file"),
    # Issue 36, item 29: passed the settings check, then refused after TensorFlow started.
    ("final_lr_fraction 0 in TOML", lambda f: train(f, "--config", str(f / "final.toml"), "-o", str(f / "out")),
     "final.toml: final_lr_fraction must be in (0.0, 1.0]"),
]


@pytest.mark.parametrize("case,arguments,expected", CASES, ids=[case for case, _, _ in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_written(files, tmp_path, monkeypatch, case, arguments, expected):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [str(a) for a in arguments(files)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1 and lines[0].startswith("acregnet: error:"), result.output
    assert expected in lines[0]
    assert "Traceback" not in result.output
    assert not (files / "out").exists() and list(tmp_path.iterdir()) == []


def test_a_sixteen_bit_image_over_max_side_is_reduced(files, tmp_path):
    result = CliRunner().invoke(main, ["register", str(files / "big16.png"), str(files / "f.png"), "--max-side", "128",
                                       "-o", str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    assert "300x300 reduced by 3 to 100x100" in result.stderr
    # Registered reduced, recorded at the file's own size (what warp takes back).
    assert '"moving_size": [\n    300,\n    300\n  ]' in result.stdout


def test_ctrl_c_is_one_line_and_exit_130(files, tmp_path, monkeypatch):
    import acregnet_cli.workflows.register as workflow

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(workflow, "register_pairs", interrupted)
    result = CliRunner().invoke(main, register(files, "-o", str(tmp_path / "out")))
    assert result.exit_code == 130
    assert result.output.strip() == "acregnet: interrupted; finished work is kept, rerun the command to continue"


def test_a_full_disk_names_the_file_and_the_cause(files, tmp_path, monkeypatch):
    from acregnet_cli.io import atomic

    def full(handle, array, allow_pickle=False):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.np, "save", full)
    with pytest.raises(RunFailure, match=r"field\.npy: could not be written \(no space left on device\)"):
        atomic.write_npy_atomic(tmp_path / "field.npy", np.zeros(3))
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind
    result = CliRunner().invoke(main, register(files, "-o", str(tmp_path / "out")))
    assert result.exit_code == 1
    assert result.output.strip().endswith("field.npy: could not be written (no space left on device)")
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.slow
def test_resume_continues_the_recorded_run_and_refuses_a_conflicting_setting(synthetic_dataset, tmp_path):
    root, config = synthetic_dataset
    common = ["train-ae", "--dataset", str(config), "--data-dir", str(root), "--quiet", "-o", str(tmp_path / "ae")]
    first = CliRunner().invoke(main, common + ["--iterations", "4", "--batch-size", "4", "--checkpoint-every", "2",
                                              "--log-every", "2"])
    assert first.exit_code == 0, first.output
    recorded = (tmp_path / "ae" / "config.toml").read_text()
    conflicting = CliRunner().invoke(main, common + ["--resume", "--batch-size", "8"])
    assert conflicting.exit_code == 2
    assert conflicting.output.strip() == (f"acregnet: error: --batch-size 8 differs from the resumed run's 4 "
                                          f"({tmp_path / 'ae' / 'config.toml'}); a resumed run continues as recorded")
    assert (tmp_path / "ae" / "config.toml").read_text() == recorded
    # Just --resume: the run's own 4 iterations, batch 4, checkpoints every 2 (not the defaults).
    again = CliRunner().invoke(main, common + ["--resume", "--json"])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "ae" / "config.toml").read_text() == recorded
    extended = CliRunner().invoke(main, common + ["--resume", "--iterations", "6", "--json"])
    assert extended.exit_code == 0, extended.output
    assert "iterations = 6" in (tmp_path / "ae" / "config.toml").read_text()
    assert "batch_size = 4" in (tmp_path / "ae" / "config.toml").read_text()


def write_pairs(folder, rows, header="moving,fixed,moving_mask,name", bom=False):
    text = header + "\n" + "\n".join(rows) + "\n"
    (folder / "pairs.csv").write_text(("\ufeff" if bom else "") + text)
    return folder / "pairs.csv"


def copy_inputs(files, folder):
    import shutil

    for name in ("m.png", "f.png", "mask.png"):
        shutil.copy(files / name, folder / name)


def test_a_pairs_csv_from_a_spreadsheet_with_a_byte_order_mark_is_read(files, tmp_path):
    copy_inputs(files, tmp_path)
    pairs = write_pairs(tmp_path, ["m.png,f.png,mask.png,one"], bom=True)
    result = CliRunner().invoke(main, ["register", "--pairs", str(pairs), "-o", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "one" / "summary.json").is_file()


BATCH_CASES = [
    ("ragged row", ["m.png,f.png,mask.png,one,surplus"], "line 2: 1 cell(s) more than the header's 4 columns"),
    ("the table's own name", ["m.png,f.png,,registrations.csv"], "taken by a file the batch writes itself"),
    ("a shard table's name", ["m.png,f.png,,registrations.shard-0-of-2.csv"], "taken by a file the batch writes"),
    ("corrupt images in later rows are found before any work",
     ["m.png,f.png,,good", "m.png,broken.png,,bad1", "text.png,f.png,,bad2", "m.png,f.png,small_mask.png,bad3"],
     "3 bad pair(s), nothing registered: bad1: "),
]


@pytest.mark.parametrize("case,rows,expected", BATCH_CASES, ids=[c for c, _, _ in BATCH_CASES])
def test_bad_pairs_tables_are_one_line_exit_2_and_nothing_written(files, tmp_path, case, rows, expected):
    copy_inputs(files, tmp_path)
    (tmp_path / "broken.png").write_bytes((files / "f.png").read_bytes()[:300])  # truncated
    (tmp_path / "text.png").write_text("not an image")
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(tmp_path / "small_mask.png")
    pairs = write_pairs(tmp_path, rows)
    result = CliRunner().invoke(main, ["register", "--pairs", str(pairs), "-o", str(tmp_path / "out")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and expected in lines[0], result.output
    assert not (tmp_path / "out").exists()
    if case.startswith("corrupt"):
        for name in ("broken.png", "text.png", "small_mask.png"):
            assert name in lines[0]


def test_a_corrupt_summary_is_an_unfinished_pair_and_a_rerun_says_when_all_is_done(files, tmp_path):
    copy_inputs(files, tmp_path)
    pairs = write_pairs(tmp_path, ["m.png,f.png,mask.png,one", "f.png,m.png,,two"])
    command = ["register", "--pairs", str(pairs), "-o", str(tmp_path / "out")]
    assert CliRunner().invoke(main, command).exit_code == 0
    (tmp_path / "out" / "one" / "summary.json").write_text('{"output": "torn')
    again = CliRunner().invoke(main, command)
    assert again.exit_code == 0, again.output
    assert "one:" in again.output and "two:" not in again.output  # only the torn pair is redone
    import json

    assert json.loads((tmp_path / "out" / "one" / "summary.json").read_text())["output"].endswith("one")
    done = CliRunner().invoke(main, command)
    assert done.exit_code == 0 and done.output.strip() == (
        "nothing to do: all 2 pair(s) are registered already (--overwrite redoes them)")


def test_json_outputs_never_hold_nan(tmp_path):
    import json

    from acregnet_cli.io.atomic import write_json_atomic

    write_json_atomic(tmp_path / "s.json", {"dice": float("nan"), "hd": np.float32("inf"), "n": np.int64(3)})
    text = (tmp_path / "s.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"dice": None, "hd": None, "n": 3}


def model_copy(tmp_path, name="model", **changes):
    """A copy of the bundled jsrt model with ``model.json`` fields changed."""
    import json
    import shutil

    from acregnet_cli.resources import data_dir

    folder = tmp_path / name
    shutil.copytree(data_dir() / "models" / "jsrt", folder)
    description = json.loads((folder / "model.json").read_text())
    description.update(changes)
    (folder / "model.json").write_text(json.dumps(description))
    return folder


MODEL_CASES = [
    ("size 200000", {"size": 200000}, "size must be an integer from 8 to 1024, got 200000"),
    ("negative size", {"size": -8}, "size must be an integer from 8 to 1024, got -8"),
    ("unknown resize", {"resize": "cubic"}, "resize must be one of modern, legacy, got 'cubic'"),
    ("dropout 7.5", {"dropout": 7.5}, "dropout must be a number from 0.0 to 0.999, got 7.5"),
    ("weights outside the folder", {"weights": "../../etc/passwd"}, "weights must be a file name beside model.json"),
    ("unknown architecture", {"architecture": "unet"}, "architecture must be one of"),
]


@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
@pytest.mark.parametrize("case,changes,expected", MODEL_CASES, ids=[c for c, _, _ in MODEL_CASES])
def test_a_bad_model_description_names_the_file_and_the_field(files, tmp_path, engine, case, changes, expected):
    model = model_copy(tmp_path, **changes)
    result = CliRunner().invoke(main, register(files, "--model", str(model), "--engine", engine,
                                               "-o", str(tmp_path / "out")))
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert f"{model / 'model.json'}: {expected}" in lines[0]
    assert not (tmp_path / "out").exists()


def write_weights(model, change):
    """Rewrite one array of the model's weights file through h5py."""
    import h5py

    with h5py.File(model / "vector_cnn.weights.h5", "r+") as handle:
        change(handle["layers"]["conv2d_3"]["vars"])


@pytest.mark.parametrize("engine", ["numpy", "tensorflow"])
@pytest.mark.parametrize("case", ["wrong shape", "NaN"])
def test_weights_of_the_wrong_shape_or_with_nan_are_refused_by_both_engines(files, tmp_path, engine, case):
    model = model_copy(tmp_path)

    def change(variables):
        if case == "NaN":
            kernel = variables["0"][()]
            kernel[0, 0, 0, 0] = np.nan
            variables["0"][...] = kernel
        else:
            del variables["0"]
            variables.create_dataset("0", data=np.zeros((3, 3, 16, 7), np.float32))

    write_weights(model, change)
    result = CliRunner().invoke(main, register(files, "--model", str(model), "--engine", engine,
                                               "-o", str(tmp_path / "out")))
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert str(model / "vector_cnn.weights.h5") in lines[0]
    assert ("NaN" in lines[0]) if case == "NaN" else ("do not fit" in lines[0])
    assert not (tmp_path / "out").exists()


def test_a_second_writer_is_refused_and_shards_share_a_folder(tmp_path):
    from acregnet_cli.errors import InputError
    from acregnet_cli.io.atomic import folder_lock

    out = tmp_path / "out"
    with folder_lock(out):
        with pytest.raises(InputError, match=r"out: in use by another acregnet run \(pid \d+\)"):
            with folder_lock(out):
                pass
    assert not out.exists()  # nothing was written: no folder left behind
    with folder_lock(out, (0, 2)), folder_lock(out, (1, 2)):  # two shards, one folder
        with pytest.raises(InputError, match="in use"):
            with folder_lock(out, (1, 2)):
                pass
    assert not out.exists()  # the locks go with the runs that held them
    # Issue 36, item 26: a run without shards and a sharded one did the same images twice.
    with folder_lock(out, (0, 2)):
        with pytest.raises(InputError, match="in use"):
            with folder_lock(out):
                pass
    with folder_lock(out):
        with pytest.raises(InputError, match=r"in use by another acregnet run \(pid \d+\)"):
            with folder_lock(out, (1, 2)):
                pass
    assert not out.exists()


def test_a_second_register_into_the_same_folder_is_refused_while_the_first_runs(files, tmp_path):
    from acregnet_cli.io.atomic import folder_lock

    with folder_lock(tmp_path / "out"):  # the first run, holding the folder
        result = CliRunner().invoke(main, register(files, "-o", str(tmp_path / "out")))
    assert result.exit_code == 2 and "in use by another acregnet run" in result.output
    assert len(result.output.strip().splitlines()) == 1


KILLED_WRITER = """
import os, sys
from acregnet_cli.io.atomic import atomic_path, folder_lock
with folder_lock(sys.argv[1]):
    with atomic_path(os.path.join(sys.argv[1], "one", "warped.png")) as tmp:
        open(tmp, "wb").write(b"torn")
        os._exit(9)   # killed mid-write: no cleanup runs
"""


def test_temporary_files_of_a_killed_run_are_removed_on_rerun(files, tmp_path):
    import subprocess
    import sys

    copy_inputs(files, tmp_path)
    pairs = write_pairs(tmp_path, ["m.png,f.png,mask.png,one"])
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(out)], check=False)
    stale = [p for p in (out / "one").iterdir() if p.name.startswith(".warped.png.")]
    assert len(stale) == 1
    result = CliRunner().invoke(main, ["register", "--pairs", str(pairs), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert not stale[0].exists() and (out / "one" / "warped.png").is_file()


def test_files_the_tool_did_not_write_are_never_removed(files, tmp_path):
    """Issue 36, item 17: taking the folder deleted any '.*.tmp*' file below it."""
    copy_inputs(files, tmp_path)
    pairs = write_pairs(tmp_path, ["m.png,f.png,mask.png,one"])
    out = tmp_path / "out"
    mine = [out / ".notes.tmp", out / "one" / ".draft.tmp.txt", out / "deep" / ".x.png.abc123.tmp.png",
            out / ".warped.png.0123abcd.acregnet-tmp.png"]   # named like ours, but never noted by a run
    for path in mine:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("the user's")
    # A journal pointing outside the folder or through a link is not followed either.
    outside = tmp_path / ".victim.0123abcd.acregnet-tmp.png"
    outside.write_text("the user's")
    (out / ".acregnet.temporaries").write_text("../.victim.0123abcd.acregnet-tmp.png\n")
    for _ in range(2):
        result = CliRunner().invoke(main, ["register", "--pairs", str(pairs), "-o", str(out), "--overwrite"])
        assert result.exit_code == 0, result.output
    assert all(path.read_text() == "the user's" for path in mine + [outside])


def test_no_lock_or_journal_is_left_after_a_run(files, tmp_path):
    """Issue 36, item 9: every output folder kept .acregnet.lock after the run."""
    copy_inputs(files, tmp_path)
    out = tmp_path / "out"
    result = CliRunner().invoke(main, register(files, "-o", str(out)))
    assert result.exit_code == 0, result.output
    assert not [p.name for p in out.iterdir() if p.name.startswith(".acregnet")]


@pytest.mark.slow
def test_segment_and_qc_reruns_keep_what_was_done(files, tmp_path, data_root):
    import csv

    targets = sorted((data_root / "data" / "JSRT" / "LR_256" / "images").glob("JPCLN00*.png"))[:2]
    out = tmp_path / "seg"
    command = ["segment", *map(str, targets), "--atlases", "jsrt:train", "--data-dir", str(data_root), "--k", "2",
               "-o", str(out)]
    assert CliRunner().invoke(main, command).exit_code == 0
    first = list(csv.DictReader(open(out / "segmentation.csv")))
    (out / f"{targets[0].stem}_overlay.png").unlink()  # killed between the mask and its overlay
    assert CliRunner().invoke(main, command).exit_code == 0
    again = list(csv.DictReader(open(out / "segmentation.csv")))
    assert [r["atlases"] for r in again] == [r["atlases"] for r in first] and all(r["atlases"] for r in again)
    assert (out / f"{targets[0].stem}_overlay.png").is_file()
    masks = [out / f"{t.stem}_mask.png" for t in targets]
    qc = ["qc", "--references", "jsrt:test", "--data-dir", str(data_root), "--max-references", "2",
          "-o", str(tmp_path / "qc")]
    assert CliRunner().invoke(main, qc + [str(masks[0]), "--images", str(targets[0])]).exit_code == 0
    second = CliRunner().invoke(main, qc + [str(masks[1]), "--images", str(targets[1]), "--json"])
    assert second.exit_code == 0, second.output
    rows = list(csv.DictReader(open(tmp_path / "qc" / "qc.csv")))
    assert [r["mask"] for r in rows] == [str(masks[0]), str(masks[1])]  # the first run's row is kept
    fresh = CliRunner().invoke(main, qc + [str(masks[1]), "--images", str(targets[1]), "--overwrite"])
    assert fresh.exit_code == 0
    assert len(list(csv.DictReader(open(tmp_path / "qc" / "qc.csv")))) == 1


GOOD_SECOND = {"registrations.shard-1-of-2.csv": "position,name\n1,b\n"}
MERGE_CASES = [
    ("no position column", {"registrations.shard-0-of-2.csv": "name,output\na,b\n", **GOOD_SECOND},
     "not a shard table"),
    ("position not a number", {"registrations.shard-0-of-2.csv": "position,name\nx,a\n", **GOOD_SECOND},
     "malformed shard table"),
    ("ragged row", {"registrations.shard-0-of-2.csv": "position,name\n0,a,extra\n", **GOOD_SECOND},
     "malformed shard table"),
    ("not UTF-8", {"registrations.shard-0-of-2.csv": b"position,name\n0,\xff\xfe\n", **GOOD_SECOND},
     "unreadable shard table"),
    # Issue 36, items 21 and 13: a stray 0-of-0 table emptied a complete one; 0-of-1000000000 ran out of memory.
    ("a stray 0-of-0", {"registrations.shard-0-of-0.csv": "position,name\n", **GOOD_SECOND},
     "not a shard table of a run"),
    ("a billion shards", {"t.shard-0-of-1000000000.csv": "position,name\n0,a\n"},
     "has 1 of 1000000000 shards; missing shard(s) 1, 2"),
    ("a stale split beside a new one", {"registrations.shard-0-of-2.csv": "position,name\n0,a\n",
                                        "registrations.shard-1-of-2.csv": "position,name\n1,b\n",
                                        "registrations.shard-0-of-3.csv": "position,name\n0,a\n",
                                        "registrations.shard-1-of-3.csv": "position,name\n1,b\n",
                                        "registrations.shard-2-of-3.csv": "position,name\n2,c\n"},
     "registrations is split both 2-way and 3-way"),
    ("positions twice", {"registrations.shard-0-of-2.csv": "position,name\n0,a\n",
                         "registrations.shard-1-of-2.csv": "position,name\n0,a\n"}, "list some positions twice"),
]


@pytest.mark.parametrize("case,tables,expected", MERGE_CASES, ids=[c for c, _, _ in MERGE_CASES])
def test_merge_refuses_malformed_or_mixed_shard_tables(tmp_path, case, tables, expected):
    for name, content in tables.items():
        (tmp_path / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    result = CliRunner().invoke(main, ["merge", str(tmp_path)])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and expected in lines[0], result.output
    assert not (tmp_path / "registrations.csv").exists()


def test_stale_shard_tables_do_not_replace_a_newer_whole_table(tmp_path):
    """Issue 36, item 21: shard tables of an earlier run replaced the table of a later one."""
    import os

    (tmp_path / "registrations.shard-0-of-2.csv").write_text("position,name\n0,a\n")
    (tmp_path / "registrations.shard-1-of-2.csv").write_text("position,name\n1,b\n")
    assert CliRunner().invoke(main, ["merge", str(tmp_path)]).exit_code == 0
    assert CliRunner().invoke(main, ["merge", str(tmp_path)]).exit_code == 0   # merging again changes nothing
    whole = tmp_path / "registrations.csv"
    whole.write_text("position,name\n0,a\n1,b\n2,c\n")                        # a later run without shards
    later = max(p.stat().st_mtime for p in tmp_path.glob("*.shard-*")) + 10
    os.utime(whole, (later, later))
    result = CliRunner().invoke(main, ["merge", str(tmp_path)])
    assert result.exit_code == 2 and "newer than its shard tables" in result.output
    assert whole.read_text() == "position,name\n0,a\n1,b\n2,c\n"


@pytest.mark.slow
def test_a_training_that_fails_before_its_first_checkpoint_leaves_nothing(synthetic_dataset, tmp_path, monkeypatch):
    import acregnet_cli.training.registration as stage

    def fails(*args, **kwargs):
        raise RunFailure("simulated failure after the run's start")

    monkeypatch.setattr(stage, "run_loop", fails)
    root, config = synthetic_dataset
    command = ["train-reg", "--dataset", str(config), "--data-dir", str(root), "--variant", "regnet",
               "--iterations", "2", "--batch-size", "2", "--quiet", "-o", str(tmp_path / "run")]
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 1 and "simulated failure" in result.output
    assert not (tmp_path / "run").exists()
    monkeypatch.undo()
    assert CliRunner().invoke(main, command).exit_code == 0  # the corrected command is not refused


@pytest.mark.slow
def test_a_training_run_directory_is_held_by_one_process(synthetic_dataset, tmp_path):
    from acregnet_cli.io.atomic import folder_lock

    root, config = synthetic_dataset
    with folder_lock(tmp_path / "run"):  # another training, still running
        result = CliRunner().invoke(main, ["train-reg", "--dataset", str(config), "--data-dir", str(root),
                                           "--variant", "regnet", "--iterations", "2", "--quiet",
                                           "-o", str(tmp_path / "run")])
        assert result.exit_code == 2 and "in use by another acregnet run" in result.output
        assert [p.name for p in (tmp_path / "run").iterdir()] == [".acregnet.lock"]  # the refused run wrote nothing


@pytest.mark.parametrize("header", ["moving,fixed,mask", "moving,fixed,moving_mask,fixedmask", "moving,fixed,Name"])
def test_a_pairs_table_with_an_unknown_column_is_refused(files, tmp_path, header):
    """Issue 36, item 4: an unknown column (mask for moving_mask) registered without the masks, exit 0.
    (fixed_mask is a column now: it scores the warped mask, issue 35.)"""
    copy_inputs(files, tmp_path)
    cells = {"mask": "mask.png", "moving_mask": "mask.png", "fixedmask": "mask.png", "Name": "one"}
    row = ",".join(["m.png", "f.png"] + [cells[c] for c in header.split(",")[2:]])
    pairs = write_pairs(tmp_path, [row], header=header)
    result = CliRunner().invoke(main, ["register", "--pairs", str(pairs), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "unknown column" in lines[0] and "moving_mask" in lines[0]
    assert not (tmp_path / "out").exists()


def test_lossy_and_out_of_range_masks_are_refused(files, tmp_path):
    """Issue 36, items 5 and 15: a JPEG mask came out with 28 labels; labels -1 and 70000 were
    written as 255 and 4464."""
    copy_inputs(files, tmp_path)
    mask = np.asarray(Image.open(tmp_path / "mask.png"))
    Image.fromarray(np.uint8(mask > 0) * 255).save(tmp_path / "mask.jpg", quality=90)
    Image.fromarray(np.where(mask > 0, 70000, 0).astype(np.int32)).save(tmp_path / "big.tif")
    Image.fromarray(np.where(mask > 0, -1, 0).astype(np.int32)).save(tmp_path / "negative.tif")
    registered = CliRunner().invoke(main, ["register", str(tmp_path / "m.png"), str(tmp_path / "f.png"),
                                           "-o", str(tmp_path / "registered")])
    assert registered.exit_code == 0, registered.output
    for name, expected in (("mask.jpg", "lossy"), ("big.tif", "0 to 65535"), ("negative.tif", "0 to 65535")):
        out = tmp_path / f"out-{name}"
        result = CliRunner().invoke(main, ["register", str(tmp_path / "m.png"), str(tmp_path / "f.png"),
                                           "--mask", str(tmp_path / name), "-o", str(out)])
        assert result.exit_code == 2, (name, result.output)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert len(lines) == 1 and name in lines[0] and expected in lines[0], lines
        assert not out.exists()
        result = CliRunner().invoke(main, ["warp", str(tmp_path / "registered"), str(tmp_path / name), "--labels",
                                           "-o", str(tmp_path / f"w-{name}")])
        assert result.exit_code == 2 and name in result.output and not (tmp_path / f"w-{name}").exists()


def test_links_planted_in_the_output_folder_are_not_written_through(files, tmp_path):
    """Issue 36, item 27: a folder link inside -o took outputs outside the output folder."""
    copy_inputs(files, tmp_path)
    pairs = write_pairs(tmp_path, ["m.png,f.png,mask.png,one"])
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "one").symlink_to(elsewhere, target_is_directory=True)
    result = CliRunner().invoke(main, ["register", "--pairs", str(pairs), "-o", str(out)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "link inside the output folder" in lines[0]
    assert list(elsewhere.iterdir()) == []


@pytest.mark.slow
def test_segment_after_kill_9_keeps_the_rows_of_finished_targets(files, tmp_path):
    """Issue 36, item 30: targets finished before a kill got rows with empty atlases, NCC and
    0.0 seconds on the rerun (the table was written only at the end)."""
    import csv
    import subprocess
    import sys

    from conftest import write_phantom_pair

    for seed in range(3):
        folder = tmp_path / f"atlas{seed}"
        folder.mkdir()
        write_phantom_pair(folder, seed=30 + seed)
    (tmp_path / "atlases" / "images").mkdir(parents=True)
    (tmp_path / "atlases" / "labels").mkdir()
    for seed in range(3):
        (tmp_path / "atlases" / "images" / f"a{seed}.png").write_bytes(
            (tmp_path / f"atlas{seed}" / "m.png").read_bytes())
        (tmp_path / "atlases" / "labels" / f"a{seed}.png").write_bytes(
            (tmp_path / f"atlas{seed}" / "mask.png").read_bytes())
    targets = [files / "m.png", files / "f.png"]
    out = tmp_path / "out"
    # The first target finishes, then the process dies before the table is written.
    killer = ("import os, sys, acregnet_cli.workflows.segment as s; real = s.segment; calls = []\n"
              "def once(*a, **k):\n"
              "    calls.append(1)\n"
              "    if len(calls) > 1: os._exit(9)\n"
              "    return real(*a, **k)\n"
              "s.segment = once\n"
              "from acregnet_cli.cli import main; sys.argv = ['acregnet'] + sys.argv[1:]; main()\n")
    command = ["segment", *map(str, targets), "--atlases", str(tmp_path / "atlases"), "--k", "2", "-o", str(out),
               "--no-overlay"]
    subprocess.run([sys.executable, "-c", killer, *command], check=False, capture_output=True)
    assert (out / "m_mask.png").is_file() and not (out / "segmentation.csv").exists()
    assert CliRunner().invoke(main, command).exit_code == 0
    rows = {row["target"]: row for row in csv.DictReader(open(out / "segmentation.csv"))}
    assert rows["m"]["atlases"] and rows["m"]["ncc"] and float(rows["m"]["seconds"]) > 0


@pytest.mark.slow
def test_a_refusal_is_one_line_on_standard_error_whatever_the_libraries_warn(files, tmp_path):
    """Issue 36, item 14: library warnings (Keras here, loading weights of the wrong shape)
    came before the one-line error; a whole process, as a user sees it."""
    import subprocess
    import sys

    model = model_copy(tmp_path)

    def change(variables):
        del variables["0"]
        variables.create_dataset("0", data=np.zeros((3, 3, 16, 7), np.float32))

    write_weights(model, change)
    result = subprocess.run([sys.executable, "-m", "acregnet_cli.cli", *register(files, "--model", str(model),
                             "--engine", "tensorflow", "-o", str(tmp_path / "out"))],
                            capture_output=True, text=True, timeout=300, check=False)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1 and lines[0].startswith("acregnet: error: "), result.stderr


def test_a_huge_kernel_is_refused_from_its_declared_shape(files, tmp_path, monkeypatch):
    """Issue 36, item 13: the NumPy engine read a 2.3 GB HDF5 kernel before checking its shape."""
    model = model_copy(tmp_path)

    def change(variables):
        del variables["0"]
        # Declared, never written: HDF5 allocates space lazily, so the file stays small.
        variables.create_dataset("0", shape=(3, 3, 16, 10 ** 7), dtype=np.float32)

    write_weights(model, change)
    assert (model / "vector_cnn.weights.h5").stat().st_size < 50 * 1024 * 1024
    read = []
    import h5py

    original = h5py.Dataset.__array__

    def spy(self, *args, **kwargs):
        read.append(self.shape)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "__array__", spy)
    result = CliRunner().invoke(main, register(files, "--model", str(model), "--engine", "numpy",
                                               "-o", str(tmp_path / "out")))
    assert result.exit_code == 2 and "do not fit" in result.output, result.output
    assert (3, 3, 16, 10 ** 7) not in read
