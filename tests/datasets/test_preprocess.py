"""preprocess: JSRT .IMG reading, layouts, splits, and the authors' JSRT labels reproduced."""

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from acregnet_cli.cli import main
from acregnet_cli.datasets.preprocess import pad_square, read_jsrt_img, seeded_split
from acregnet_cli.errors import InputError


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_jsrt_img_is_big_endian_12_bit_and_inverted_for_display(tmp_path):
    values = np.zeros((2048, 2048), np.uint16)
    values[0, 0], values[0, 1], values[100, 200] = 4095, 0, 1024
    path = tmp_path / "JPCNN001.IMG"
    values.astype(">u2").tofile(path)
    image = read_jsrt_img(path)
    assert image.shape == (2048, 2048) and image.dtype == np.float32
    assert image[0, 0] == 0.0 and image[0, 1] == 1.0
    assert image[100, 200] == pytest.approx(1 - 1024 / 4095)
    assert read_jsrt_img(path, invert=False)[100, 200] == pytest.approx(1024 / 4095)
    # Little-endian bytes would put 1024 at 4 and so differ: the byte order matters.
    assert read_jsrt_img(path, invert=False)[100, 200] != pytest.approx(4 / 4095)


def test_jsrt_img_of_wrong_size_or_range_is_refused(tmp_path):
    short = tmp_path / "short.IMG"
    short.write_bytes(b"\0" * 100)
    with pytest.raises(InputError, match="8388608 bytes"):
        read_jsrt_img(short)
    big = tmp_path / "big.IMG"
    np.full((2048, 2048), 60000, ">u2").tofile(big)
    with pytest.raises(InputError, match="12-bit"):
        read_jsrt_img(big)


def test_jsrt_img_layout_end_to_end(tmp_path):
    source = tmp_path / "jsrt"
    (source / "images").mkdir(parents=True)
    yy, xx = np.mgrid[0:2048, 0:2048]
    for name in ("JPCNN001", "JPCNN002", "JPCNN003"):
        (4095 * (xx / 2047.0)).astype(">u2").tofile(source / "images" / f"{name}.IMG")
        for part, box in (("left lung", (300, 600, 560, 900)), ("right lung", (300, 600, 100, 440)),
                          ("heart", (600, 800, 400, 650))):
            mask = np.zeros((1024, 1024), np.uint8)
            mask[box[0]:box[1], box[2]:box[3]] = 255
            (source / "masks" / part).mkdir(parents=True, exist_ok=True)
            Image.fromarray(mask).save(source / "masks" / part / f"{name}.gif")
    result = run("preprocess", source, "-o", tmp_path / "out", "--sizes", "64", "--json")
    assert result.exit_code == 0, result.output
    labels = np.array(Image.open(tmp_path / "out" / "data" / "JSRT" / "LR_64" / "labels" / "JPCNN001.png"))
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    assert np.argwhere(labels == 1)[:, 1].mean() > np.argwhere(labels == 2)[:, 1].mean()
    image = np.array(Image.open(tmp_path / "out" / "data" / "JSRT" / "LR_64" / "images" / "JPCNN001.png"))
    assert image[:, 0].mean() > image[:, -1].mean()  # inverted: raw 0 displays white
    assert (tmp_path / "out" / "jsrt.toml").exists()


def test_pad_square_centres_content():
    padded = pad_square(np.ones((2, 6)))
    assert padded.shape == (6, 6) and padded[2:4].all() and not padded[:2].any()


def test_seeded_split_is_60_20_20_disjoint_and_repeatable():
    names = [f"n{i}" for i in range(50)]
    split = seeded_split(names, seed=3)
    assert [len(split[f]) for f in ("train", "validation", "test")] == [30, 10, 10]
    assert set().union(*split.values()) == set(names)
    assert split == seeded_split(names, seed=3) and split != seeded_split(names, seed=4)


@pytest.fixture(scope="module")
def raw_samples(data_root):
    raw = Path(data_root).parent / "raw-samples"
    if not raw.is_dir():
        pytest.skip("raw samples not available")
    return raw


def test_preprocessing_jsrt_scr_reproduces_the_authors_labels(raw_samples, data_root, tmp_path):
    result = run("preprocess", raw_samples / "jsrt-scr", "-o", tmp_path, "--sizes", "256", "--json")
    assert result.exit_code == 0, result.output
    dices = []
    for path in sorted((tmp_path / "data" / "JSRT" / "LR_256" / "labels").glob("*.png")):
        ours = np.array(Image.open(path))
        theirs = np.array(Image.open(data_root / "data" / "JSRT" / "LR_256" / "labels" / path.name))
        dices.append([2 * np.sum((ours == k) & (theirs == k)) / (np.sum(ours == k) + np.sum(theirs == k))
                      for k in (1, 2, 3)])
    assert len(dices) == 8
    assert np.min(dices) > 0.98, np.round(dices, 4)


@pytest.mark.parametrize("layout,folder", [("montgomery", "Montgomery"), ("shenzhen", "Shenzhen")])
def test_preprocessing_nih_layouts(raw_samples, tmp_path, layout, folder):
    result = run("preprocess", raw_samples / layout, "-o", tmp_path, "--sizes", "64", "--json")
    assert result.exit_code == 0, result.output
    from acregnet_cli.datasets.config import load_dataset_config
    from acregnet_cli.datasets.layout import load_split

    config = load_dataset_config(tmp_path / f"{layout}.toml")
    train = load_split(config, tmp_path, "train", 64)
    assert len(train) == 5 and set(np.unique(train.labels)) == {0, 1}
    assert train.labels.mean() > 0.1  # both lungs are in the masks


def test_unknown_layout_is_a_clear_error(tmp_path):
    result = run("preprocess", tmp_path, "-o", tmp_path / "o")
    assert result.exit_code == 2 and "unknown layout" in result.output
