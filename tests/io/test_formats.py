"""The field's formats (issue 35): CheXmask tables and COCO run-length masks out and in,
checked against decoders written apart from ours; measures and scores of masks."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from acregnet_cli.cli import main
from acregnet_cli.io.rle import chexmask_decode, chexmask_encode, coco_decode, coco_encode


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def their_decode(rle, height, width):
    """CheXmask's convention as its data dictionary states it: row-major, 'start length'
    pairs, starts from 1, an empty mask an empty string (NaN in pandas), 0/255 masks."""
    mask = np.zeros(height * width, np.uint8)
    if isinstance(rle, str) and rle:
        numbers = [int(x) for x in rle.split()]
        for start, length in zip(numbers[0::2], numbers[1::2]):
            mask[start - 1:start - 1 + length] = 255
    return mask.reshape(height, width)


def random_masks(count, seed=0):
    rng = np.random.default_rng(seed)
    for index in range(count):
        height, width = rng.integers(1, 80, 2)
        kind = index % 4
        if kind == 0:
            yield rng.random((height, width)) < rng.random()
        elif kind == 1:
            yield np.zeros((height, width), bool)
        elif kind == 2:
            yield np.ones((height, width), bool)
        else:
            mask = np.zeros((height, width), bool)
            mask[rng.integers(0, height):, rng.integers(0, width):] = True
            yield mask


@pytest.fixture(scope="module")
def real_masks(data_root):
    """The 200 first JSRT label maps (SCR masks, 256 px) as binary structure masks."""
    folder = data_root / "data" / "JSRT" / "LR_256" / "labels"
    paths = sorted(folder.glob("*.png"))[:200]
    assert len(paths) == 200
    return {path: np.asarray(Image.open(path)) for path in paths}


def test_chexmask_run_lengths_agree_with_an_independent_decoder(real_masks):
    assert chexmask_encode(np.array([[0, 1, 1], [1, 0, 0]])) == "2 3"  # the data dictionary's example
    masks = list(random_masks(1000))
    masks += [labels == value for labels in real_masks.values() for value in (1, 2, 3)][:600]
    for mask in masks:
        text = chexmask_encode(mask)
        assert np.array_equal(their_decode(text, *mask.shape) == 255, mask)
        assert np.array_equal(chexmask_decode(text, *mask.shape), mask)


def test_coco_run_lengths_are_pycocotools(real_masks):
    from pycocotools import mask as coco

    masks = list(random_masks(1000, seed=1)) + [labels == 3 for labels in real_masks.values()]
    for mask in masks:
        ours = coco_encode(mask)
        theirs = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert ours["counts"] == theirs["counts"].decode() and ours["size"] == list(theirs["size"])
        assert np.array_equal(coco.decode({"size": ours["size"], "counts": ours["counts"].encode()}), mask)
        assert np.array_equal(coco_decode(ours), mask)


@pytest.fixture(scope="module")
def exported(real_masks, tmp_path_factory):
    folder = tmp_path_factory.mktemp("formats")
    (folder / "masks").mkdir()
    for path, labels in list(real_masks.items())[:20]:
        Image.fromarray(labels).save(folder / "masks" / path.name)
    result = run("export", folder / "masks", "-o", folder / "out", "--format", "chexmask", "--format", "coco")
    assert result.exit_code == 0, result.output
    return folder


def test_a_chexmask_table_of_ours_reads_with_the_chexmask_recipe(exported):
    table = pd.read_csv(exported / "out" / "chexmask.csv")  # columns selected by name, as CheXmask's code does
    assert {"Dice RCA (Mean)", "Dice RCA (Max)", "Right Lung", "Left Lung", "Heart", "Height", "Width"} <= \
        set(table.columns)
    for row in table.to_dict("records"):
        labels = np.asarray(Image.open(exported / "masks" / row["Path"]))
        height, width = int(row["Height"]), int(row["Width"])
        # Sides are the patient's: SCR label 2 (right lung) lies on the image's left.
        for column, value in (("Right Lung", 2), ("Left Lung", 1), ("Heart", 3)):
            decoded = their_decode(row[column], height, width)
            assert np.array_equal(decoded == 255, labels == value), (row["Path"], column)
        right = their_decode(row["Right Lung"], height, width)
        assert np.nonzero(right)[1].mean() < width / 2


def test_coco_json_decodes_to_the_label_maps(exported):
    from pycocotools import mask as coco

    document = json.loads((exported / "out" / "coco.json").read_text())
    names = {c["id"]: c["name"] for c in document["categories"]}
    assert names == {1: "right lung", 2: "left lung", 3: "heart"}
    values = {"right lung": 2, "left lung": 1, "heart": 3}
    for image in document["images"]:
        labels = np.asarray(Image.open(exported / "masks" / image["file_name"]))
        mine = [a for a in document["annotations"] if a["image_id"] == image["id"]]
        assert len(mine) == 3
        for annotation in mine:
            rle = dict(annotation["segmentation"], counts=annotation["segmentation"]["counts"].encode())
            mask = coco.decode(rle).astype(bool)
            assert np.array_equal(mask, labels == values[names[annotation["category_id"]]])
            assert annotation["area"] == int(coco.area(rle))
            assert annotation["bbox"] == [int(v) for v in coco.toBbox(rle)]


BAD_TABLES = {
    "wrong columns": ("Path,Lungs,Height,Width\na.png,1 2,4,4\n", "no column Right Lung"),
    "not numbers": ("Path,Right Lung,Left Lung,Heart,Height,Width\na.png,1 x,,,4,4\n", "line 2, column Right Lung"),
    "past the frame": ("Path,Right Lung,Left Lung,Heart,Height,Width\na.png,,15 4,,4,4\n",
                       "line 2, column Left Lung: a run lies outside the 4x4 frame"),
    "swapped": ("Path,Dice RCA (Mean),Dice RCA (Max),Right Lung,Left Lung,Heart,Height,Width\n"
                "a.png,0.9,0.8,,,,4,4\n", "line 2: 'Dice RCA (Mean)' 0.9 exceeds 'Dice RCA (Max)' 0.8"),
    "bad frame": ("Path,Right Lung,Left Lung,Heart,Height,Width\na.png,,,,-4,4\n", "line 2, column Height"),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
@pytest.mark.parametrize("command", ["measure", "export", "score"])
def test_a_malformed_chexmask_table_is_one_line_naming_file_line_and_column(tmp_path, case, command):
    text, expected = BAD_TABLES[case]
    (tmp_path / "bad.csv").write_text(text)
    extra = ["--reference", tmp_path / "bad.csv"] if command == "score" else []
    result = run(command, tmp_path / "bad.csv", *extra, "-o", tmp_path / "out")
    lines = result.output.strip().splitlines()
    assert result.exit_code == 2 and len(lines) == 1, result.output
    assert "bad.csv" in lines[0] and expected in lines[0], lines[0]
    assert not (tmp_path / "out").exists()


def test_measures_of_a_known_geometry_and_the_command(tmp_path):
    from acregnet_cli.anatomy import measure

    labels = np.zeros((100, 120), np.uint8)
    labels[10:80, 10:50] = 2      # right lung, image left: columns 10-49
    labels[10:70, 70:110] = 1     # left lung: columns 70-109, 60 rows
    labels[50:90, 40:80] = 3      # heart: columns 40-79
    labels[95:97, 0:3] = 1        # a stray island: not the left lung's extent
    found = measure(labels, spacing=0.5)
    assert found["thoracic_width"] == 50.0 and found["heart_width"] == 20.0 and found["ctr"] == 0.4
    assert found["right_lung_height"] == 35.0 and found["left_lung_height"] == 30.0
    assert found["heart_area"] == 40 * 40 * 0.25
    Image.fromarray(labels).save(tmp_path / "m.png")
    result = run("measure", tmp_path / "m.png", "-o", tmp_path / "out", "--spacing", 0.5, "--figures")
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "out" / "measures.csv")
    assert table.iloc[0].ctr == 0.4 and table.iloc[0].unit == "mm"
    assert (tmp_path / "out" / "m_measures.png").is_file()


def test_score_compares_masks_by_image_name(exported, tmp_path):
    moved = tmp_path / "moved"
    moved.mkdir()
    for path in sorted((exported / "masks").glob("*.png"))[:5]:
        labels = np.asarray(Image.open(path))
        Image.fromarray(np.roll(labels, 3, axis=1)).save(moved / path.name)
    result = run("score", moved, "--reference", exported / "out" / "chexmask.csv", "-o", tmp_path / "s", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["masks"] == 5
    assert 0.8 < summary["mean"]["dice_heart"] < 0.99 and summary["mean"]["hd_heart"] == pytest.approx(3.0)
    same = run("score", exported / "masks", "--reference", exported / "out" / "chexmask.csv", "-o", tmp_path / "t",
               "--json")
    assert json.loads(same.stdout)["mean"]["dice_lungs"] == 1.0


def test_score_reads_only_the_reference_rows_it_compares(exported, tmp_path):
    """A CheXmask table runs to gigabytes: rows of other images are skipped unread (and so
    not held), the rows compared are checked."""
    table = (exported / "out" / "chexmask.csv").read_text().splitlines()
    # Another image's row, broken: not one of ours, so never decoded.
    table.append("unrelated.png,,,1 x,,,4,4")
    (tmp_path / "big.csv").write_text("\n".join(table) + "\n")
    result = run("score", exported / "masks", "--reference", tmp_path / "big.csv", "-o", tmp_path / "s", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["masks"] == 20
