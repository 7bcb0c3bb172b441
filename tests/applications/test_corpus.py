"""acregnet corpus: a folder of images segmented and quality-checked, streaming, resumable,
shardable; bad images recorded, not fatal; the full-resolution band agrees with doing
every pixel; at the atlases' size it agrees with segment."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from acregnet_cli.cli import main
from acregnet_cli.datasets.phantom import make_subject


def write_atlases(folder, count=8, size=128, seed=0):
    rng = np.random.RandomState(seed)
    (folder / "images").mkdir(parents=True)
    (folder / "labels").mkdir()
    for index in range(count):
        image, labels = make_subject(rng, size)
        Image.fromarray((image * 255).astype(np.uint8)).save(folder / "images" / f"a{index}.png")
        Image.fromarray(labels.astype(np.uint8)).save(folder / "labels" / f"a{index}.png")
    return folder


def write_corpus(folder, count=6, sizes=(128, 192), seed=1):
    """Phantoms of two sizes in a nested tree, a corrupt file and a noise image."""
    rng = np.random.RandomState(seed)
    truth = {}
    for index in range(count):
        size = sizes[index % len(sizes)]
        image, labels = make_subject(rng, size)
        relpath = f"{'deep/er/' if index % 3 == 0 else ''}img{index}.png"
        (folder / relpath).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255).astype(np.uint8)).save(folder / relpath)
        truth[relpath] = labels
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    Image.fromarray((rng.rand(96, 96) * 255).astype(np.uint8)).save(folder / "noise.png")
    (folder / "notes.txt").write_text("not an image: not listed")
    return truth


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    atlases = write_atlases(root / "atlases")
    truth = write_corpus(root / "images")
    return root, atlases, truth


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def test_a_corpus_is_segmented_and_bad_images_are_recorded(corpus, tmp_path):
    from acregnet_cli.metrics import mean_dice

    root, atlases, truth = corpus
    result = run("corpus", root / "images", "--atlases", atlases, "-o", tmp_path / "out", "--json",
                 "--batch-size", 3)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["images"], summary["ok"], summary["failed"], summary["not_chest"]) == (8, 6, 1, 1)
    assert "2 image(s) not segmented: 1 failed, 1 not frontal chest radiographs, 0 masks" in result.stderr
    assert summary["views"] == {"frontal": 6, "other": 1, "not-radiograph": 0}
    table = pd.read_csv(tmp_path / "out" / "corpus.csv")
    assert table.set_index("image").view.fillna("").to_dict() == {
        **dict.fromkeys(truth, "frontal"), "broken.png": "", "noise.png": "other"}
    assert list(table["image"]) == sorted(table["image"]) and len(table) == 8
    broken = table[table.image == "broken.png"].iloc[0]
    assert broken.status == "failed" and "not a readable image" in broken.reason
    assert table[table.image == "noise.png"].iloc[0].status == "not-chest"
    for relpath, labels in truth.items():
        row = table[table.image == relpath].iloc[0]
        mask = np.asarray(Image.open(tmp_path / "out" / row["mask"]))
        assert mask.shape == labels.shape  # at the image's own size
        assert mean_dice(mask, labels, (1, 2, 3)) > 0.7
        assert 0.0 < row.estimated_dice <= 1.0 and row.accepted == (row.estimated_dice >= 0.92)
        assert {"dice_1", "dice_2", "dice_3"} <= set(table.columns)
        # Issue 35: CheXmask's RCA (both lungs as one, with the heart; mean and max over the
        # references) and the measures of the mask as written.
        assert 0.0 < row.rca_mean <= row.rca_max <= 1.0
        from acregnet_cli.anatomy import measure

        expected = measure(mask[::1, ::1])
        assert row.measure_unit == "px" and abs(row.ctr - expected["ctr"]) < 0.02
        assert abs(row.heart_area - expected["heart_area"]) / expected["heart_area"] < 0.05
    assert (tmp_path / "out" / "figure4.png").is_file()

    strict = run("corpus", root / "images", "--atlases", atlases, "-o", tmp_path / "out", "--strict")
    assert strict.exit_code == 1 and "2 image(s) failed" in strict.output
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["computed_this_run"] == 0


def test_a_rerun_redoes_nothing_finished_and_drops_a_torn_line(corpus, tmp_path):
    root, atlases, _ = corpus
    out = tmp_path / "out"
    assert run("corpus", root / "images", "--atlases", atlases, "-o", out).exit_code == 0
    journal = out / ".journal" / "all.jsonl"
    lines = journal.read_text().splitlines()
    # As a kill between lines would leave it: the last two images unfinished, one line torn.
    journal.write_text("\n".join(lines[:-2]) + "\n" + lines[-2][:25])
    result = run("corpus", root / "images", "--atlases", atlases, "-o", out, "--json")
    summary = json.loads(result.stdout)
    assert summary["computed_this_run"] + summary["failed"] + summary["not_chest"] >= 1
    assert summary["finished"] == 8 and summary["missing"] == 0
    assert len(journal.read_text().splitlines()) == 8
    assert len(pd.read_csv(out / "corpus.csv")) == 8


@pytest.mark.slow
def test_shards_then_a_whole_run_merge(corpus, tmp_path):
    root, atlases, _ = corpus
    out = tmp_path / "out"
    for index in range(2):
        result = run("corpus", root / "images", "--atlases", atlases, "-o", out, "--shard", f"{index}/2", "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["finished"] == 4
    whole = run("corpus", root / "images", "--atlases", atlases, "-o", out, "--json")
    summary = json.loads(whole.stdout)
    assert summary["computed_this_run"] == 0 and summary["finished"] == 8
    merged = run("merge", out)
    assert merged.exit_code == 0, merged.output
    assert len(pd.read_csv(out / "corpus.csv")) == 8


@pytest.mark.parametrize("case,expected", [("missing", "not a folder"), ("empty", "no images")])
def test_a_wrong_corpus_is_refused_in_one_line(tmp_path, corpus, case, expected):
    _, atlases, _ = corpus
    folder = tmp_path / "nowhere"
    if case == "empty":
        folder.mkdir()
    result = run("corpus", folder, "--atlases", atlases, "-o", tmp_path / "out")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1 and expected in lines[0], result.output
    assert not (tmp_path / "out").exists()


def pipeline_for(atlases_folder, band=True, framing="align"):
    from acregnet_cli.applications.corpus import CorpusPipeline
    from acregnet_cli.applications.segmentation import load_atlas_folder
    from acregnet_cli.options import RegistrationOptions
    from acregnet_cli.registration import make_registrar

    atlases = load_atlas_folder(atlases_folder)
    registrar = make_registrar("jsrt", RegistrationOptions(engine="tensorflow"), keep_onehot=True)
    pipeline = CorpusPipeline(atlases, atlases, registrar, k=3, max_references=4, band=band, framing=framing)
    return pipeline, atlases, registrar


@pytest.mark.slow
def test_the_band_agrees_with_every_pixel_at_full_resolution(tmp_path):
    rng = np.random.RandomState(5)
    atlases_folder = write_atlases(tmp_path / "atlases", count=6, size=256)
    images = [make_subject(rng, 768)[0] for _ in range(2)]
    banded, _, _ = pipeline_for(atlases_folder)
    exact, _, _ = pipeline_for(atlases_folder, band=False)
    for fast, slow in zip(banded.process(images), exact.process(images)):
        assert fast.labels.shape == (768, 768)
        assert np.mean(fast.labels != slow.labels) < 1e-4
        assert fast.band_fraction < 0.35


@pytest.mark.slow
def test_at_the_atlases_size_it_agrees_with_segment(tmp_path):
    """With the same atlases (the corpus ranks them on the network's inputs, segment on an
    anti-aliased copy: the choice may differ) and the whole frame, the masks are segment's."""
    from acregnet_cli.applications.segmentation import AtlasSet, segment

    rng = np.random.RandomState(6)
    atlases_folder = write_atlases(tmp_path / "atlases", count=6, size=256)
    pipeline, atlases, registrar = pipeline_for(atlases_folder, framing="none")
    images = [make_subject(rng, 256)[0] for _ in range(3)]
    for image, result in zip(images, pipeline.process(images)):
        chosen = [atlases.names.index(name) for name in result.atlases]
        same = AtlasSet([atlases.names[i] for i in chosen], [atlases.images[i] for i in chosen],
                        [atlases.labels[i] for i in chosen])
        labels, _ = segment(image, same, registrar, k=3)
        assert np.mean(labels != result.labels) < 0.002


@pytest.mark.slow
def test_kill_9_at_any_moment_loses_nothing_finished(corpus, tmp_path):
    root, atlases, _ = corpus
    out = tmp_path / "out"
    command = [sys.executable, "-m", "acregnet_cli.cli", "corpus", str(root / "images"), "--atlases", str(atlases),
               "-o", str(out), "--batch-size", "1"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=dict(os.environ, OPENBLAS_NUM_THREADS="1"))
    journal = out / ".journal" / "all.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and (not journal.exists() or len(journal.read_text().splitlines()) < 3):
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = {json.loads(line)["image"] for line in journal.read_text().splitlines() if line.endswith("}")}
    assert len(finished) >= 3
    again = subprocess.run(command + ["--json"], capture_output=True, text=True, check=True)
    summary = json.loads(again.stdout)
    assert summary["finished"] == 8 and summary["computed_this_run"] <= 8 - len(finished) + 1
    table = pd.read_csv(out / "corpus.csv")
    assert len(table) == 8 and table["image"].is_unique
    for mask in table["mask"].dropna():
        Image.open(out / mask).load()  # no torn mask
    assert not list(out.rglob(".*.tmp*"))


def test_passes_reach_the_registrar_and_a_bad_value_is_refused(corpus, tmp_path, monkeypatch):
    from acregnet_cli import registration

    _, atlases, _ = corpus
    seen = {}

    def spy(model, options, keep_onehot=False):
        seen["passes"] = options.passes
        raise RuntimeError("stop after the registrar")

    monkeypatch.setattr(registration, "make_registrar", spy)
    result = run("corpus", corpus[0] / "images", "--atlases", atlases, "-o", tmp_path / "out", "--passes", "1")
    assert seen == {"passes": 1}, result.output
    bad = run("corpus", corpus[0] / "images", "--atlases", atlases, "-o", tmp_path / "bad", "--passes", "0")
    assert bad.exit_code == 2 and "--passes" in bad.output
    assert not (tmp_path / "bad").exists()


def test_mask_names_never_collide():
    """Issue 36, item 22: a.png, a.jpg and a.png.png shared one mask file; x.jpg beside a
    folder x.png/ and a 255-byte name aborted the run."""
    from acregnet_cli.workflows.corpus_files import mask_names

    long_name = "n" * 251 + ".png"
    relpaths = ["a.png", "a.jpg", "a.png.png", "x.jpg", "x.png/inner.png", "b/c.dcm", "b/c.png", long_name]
    names = mask_names(relpaths)
    assert len(set(names.values())) == len(relpaths)
    files = set(names.values())
    folders = {parent.as_posix() for name in files for parent in Path(name).parents}
    assert not files & folders
    assert all(len(part.encode()) <= 255 for name in files for part in Path(name).parts)
    assert mask_names(list(reversed(relpaths))) == names  # the same names on every run and shard


@pytest.mark.slow
def test_awkward_names_and_special_files_are_rows_not_aborts(corpus, tmp_path):
    """Issue 36, items 22 and 25: colliding names lost a mask or aborted every rerun; a FIFO
    hung the run forever."""
    root, atlases, truth = corpus
    images = tmp_path / "images"
    images.mkdir()
    source = root / "images" / "img1.png"
    for name in ("a.png", "a.jpg", "a.png.png", "x.jpg", "n" * 251 + ".png"):
        (images / name).write_bytes(source.read_bytes())
    (images / "x.png").mkdir()
    (images / "x.png" / "inner.png").write_bytes(source.read_bytes())
    os.mkfifo(images / "pipe.png")
    (images / "loop.png").symlink_to(images / "loop2.png")
    (images / "loop2.png").symlink_to(images / "loop.png")
    result = run("corpus", images, "--atlases", atlases, "-o", tmp_path / "out", "--k", 2, "--max-references", 2)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "corpus.csv")
    assert len(table) == 6 and (table.status == "ok").all()      # the FIFO and the link loop are no images
    assert table["mask"].nunique() == 6
    assert all((tmp_path / "out" / mask).is_file() for mask in table["mask"])


def test_a_link_planted_in_the_output_is_not_followed(corpus, tmp_path):
    """Issue 36, item 27, for corpus: masks/ linked elsewhere."""
    root, atlases, _ = corpus
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "masks").symlink_to(elsewhere, target_is_directory=True)
    result = run("corpus", root / "images", "--atlases", atlases, "-o", tmp_path / "out", "--k", 2,
                 "--max-references", 2)
    assert result.exit_code == 2 and "link inside the output folder" in result.output
    assert list(elsewhere.rglob("*")) == []


@pytest.mark.slow
def test_an_edited_journal_is_not_trusted_and_a_deleted_image_costs_its_panel(corpus, tmp_path):
    """Issue 36, items 18 and 23: a tampered journal put ../../etc/passwd into corpus.csv; an
    image deleted before figure4.png failed the finished run (exit 2, no summary.json)."""
    root, atlases, _ = corpus
    images = tmp_path / "images"
    images.mkdir()
    for name in ("img1.png", "img2.png", "img4.png"):
        (images / name).write_bytes((root / "images" / name).read_bytes())
    out = tmp_path / "out"
    arguments = ["corpus", images, "--atlases", atlases, "-o", out, "--k", 2, "--max-references", 2]
    assert run(*arguments).exit_code == 0
    journal = out / ".journal" / "all.jsonl"
    rows = [json.loads(line) for line in journal.read_text().splitlines()]
    rows[0]["mask"] = "../../etc/passwd"
    rows[1]["estimated_dice"] = "high"
    journal.write_text("".join(json.dumps(row) + "\n" for row in rows))
    (images / "img4.png").unlink()
    (images / "img5.png").write_bytes((root / "images" / "img4.png").read_bytes())
    result = run(*arguments, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["computed_this_run"] == 3      # the two edited rows and the new image, again
    table = pd.read_csv(out / "corpus.csv")
    assert "passwd" not in table.to_csv() and (table["mask"].str.startswith("masks/")).all()
    assert (out / "figure4.png").is_file() and (out / "summary.json").is_file()


def test_figure4_draws_what_it_can(tmp_path):
    """Issue 36, item 23: an image gone between its row and the figure failed the run."""
    from acregnet_cli.workflows.corpus_report import figure4

    image, labels = make_subject(np.random.RandomState(3), 64)
    Image.fromarray(np.uint8(image * 255)).save(tmp_path / "here.png")
    (tmp_path / "masks").mkdir()
    Image.fromarray(labels.astype(np.uint8)).save(tmp_path / "masks" / "here.png")
    Image.fromarray(labels.astype(np.uint8)).save(tmp_path / "masks" / "gone.png")
    table = [{"image": "here.png", "mask": "masks/here.png", "estimated_dice": 0.95, "status": "ok"},
             {"image": "gone.png", "mask": "masks/gone.png", "estimated_dice": 0.80, "status": "ok"}]
    figure4(tmp_path / "figure4.png", table, tmp_path, tmp_path, 0.92)
    assert (tmp_path / "figure4.png").stat().st_size > 0


@pytest.mark.slow
def test_pictures_the_atlases_disagree_on_are_not_taken_for_radiographs(data_root, tmp_path):
    """Issue 34: a photograph or an MR slice passed the NCC gate and got a mask (an MR
    slice was even accepted, estimated Dice 0.937); a radiograph still passes."""
    import skimage.data
    from pydicom.data import get_testdata_file

    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(skimage.data.astronaut()).save(folder / "astronaut.png")
    shutil.copy(get_testdata_file("MR_small.dcm"), folder / "mr.dcm")
    shutil.copy(data_root / "data" / "JSRT" / "LR_256" / "images" / "JPCLN002.png", folder / "cxr.png")
    result = run("corpus", folder, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "corpus.csv").set_index("image")
    assert table.loc["cxr.png", "status"] == "ok" and table.loc["cxr.png", "atlas_agreement"] > 0.95
    for name in ("astronaut.png", "mr.dcm"):
        assert table.loc[name, "status"] == "not-chest" and "atlases agree at" in table.loc[name, "reason"]
        assert table.loc[name, "view"] == "other" and table.loc[name, "atlas_agreement"] < 0.9
        assert not isinstance(table.loc[name, "mask"], str)  # no mask written
    before = run("corpus", folder, "-o", tmp_path / "before", "--min-agreement", 0, "--json")
    assert before.exit_code == 0
    assert set(pd.read_csv(tmp_path / "before" / "corpus.csv").status) == {"ok"}


def test_a_mask_stored_beside_the_images_is_not_segmented(corpus, tmp_path):
    """Issue 34: a folder holding masks beside its images (a dataset's own layout) had the
    masks segmented as radiographs (estimated Dice up to 0.91)."""
    root, atlases, truth = corpus
    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(root / "images" / "img1.png", folder / "img1.png")
    Image.fromarray((truth["img1.png"] > 0).astype(np.uint8) * 255).save(folder / "img1_mask.png")
    result = run("corpus", folder, "--atlases", atlases, "-o", tmp_path / "out", "--json", "--min-agreement", 0)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "corpus.csv").set_index("image")
    assert table.loc["img1.png", "status"] == "ok"
    assert table.loc["img1_mask.png", "status"] == "not-chest" and "2 grey levels" in table.loc["img1_mask.png",
                                                                                                   "reason"]
    assert table.loc["img1_mask.png", "view"] == "not-radiograph" and table.loc["img1.png", "view"] == "frontal"
    assert json.loads(result.stdout)["views"] == {"frontal": 1, "other": 0, "not-radiograph": 1}


@pytest.mark.parametrize("rounds, expected, reached", [(1, -3.0, -6.0), (3, -8.0, -8.0)])
def test_alignment_resamples_again_until_the_atlases_agree_on_the_frame(tmp_path, monkeypatch, short_reach, rounds,
                                                                         expected, reached):
    """A network that moves at most 3 px a call and a film framed 8 px lower than the
    atlases: one round brings it 3 px in and the atlases' fields fall 2 px short; three
    rounds bring it all the way, and the fields read the atlas 8 px up, where its disk is."""
    import acregnet_cli.applications.alignment as alignment_module
    import acregnet_cli.applications.corpus as corpus_module
    from acregnet_cli.applications.segmentation import load_atlas_folder
    from acregnet_cli.registration import Registrar
    from acregnet_cli.registration.engines import NumpyOps

    monkeypatch.setattr(alignment_module, "ALIGN_ROUNDS", rounds)
    registrar = Registrar(short_reach, short_reach.size, ops=NumpyOps(short_reach))
    atlases = load_atlas_folder(short_reach.atlases(tmp_path / "atlases"))
    pipeline = corpus_module.CorpusPipeline(atlases, None, registrar, k=3)
    item, = pipeline.start([short_reach.film(8, 7)[0]])["prepared"]
    assert item["affine"][1][0] == pytest.approx(expected, abs=0.05)
    inner = item["fields"][:, 12:-12, 12:-12]
    assert np.allclose(inner[..., 0], reached, atol=0.1) and np.allclose(inner[..., 1], 0, atol=0.1)


def test_rows_journalled_before_the_view_column_get_the_view_their_status_says(tmp_path):
    from acregnet_cli.workflows.corpus_files import mask_names, read_journals

    masks = mask_names(["a.png", "b.png", "c.png", "d.png", "e.png"])
    rows = [{"image": "a.png", "status": "ok", "mask": masks["a.png"]},
            {"image": "b.png", "status": "not-chest", "reason": "not a radiograph: 2 grey levels"},
            {"image": "c.png", "status": "not-chest", "reason": "its 5 atlases agree at 0.71"},
            {"image": "d.png", "status": "failed", "reason": "unreadable"},
            {"image": "e.png", "status": "not-chest", "view": "sideways"}]  # not a view: done again
    (tmp_path / "all.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    read = read_journals(tmp_path, masks)
    assert {image: row["view"] for image, row in read.items()} == {
        "a.png": "frontal", "b.png": "not-radiograph", "c.png": "other", "d.png": ""}


def test_an_image_unlike_every_atlas_must_have_atlases_agreeing_more():
    """Issue 34: a retina, the moon and a microscopy picture had atlases agreeing at
    0.92-0.94 (over --min-agreement 0.90) and a best atlas NCC of 0.25-0.33; an image that
    unlike the atlases must clear 0.94, one like them 0.90, and the gate off stays off."""
    from acregnet_cli.applications.corpus import frontal_refusal

    assert frontal_refusal(0.25, 0.937, 5, 0.90).endswith("(< 0.94, its most similar atlas correlates 0.25)")
    assert frontal_refusal(0.36, 0.937, 5, 0.90) == ""
    assert frontal_refusal(0.25, 0.945, 5, 0.90) == ""
    assert frontal_refusal(0.80, 0.89, 5, 0.90).endswith("(< 0.9)")
    assert frontal_refusal(0.10, 0.50, 5, None) == "" and frontal_refusal(0.10, 0.50, 1, 0.90) == ""
    assert frontal_refusal(0.10, 0.03, 5, 0.0) == ""
