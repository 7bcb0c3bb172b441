"""Sharded batch work and merging its tables."""

import csv

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from acregnet_cli.cli import main
from acregnet_cli.errors import InputError
from acregnet_cli.workflows.sharding import merge_tables, parse_shard, select


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def test_shards_partition_the_list():
    items = list("abcdefg")
    parts = [select(items, (i, 3)) for i in range(3)]
    assert sorted(p for part in parts for p, _ in part) == list(range(7))
    assert [item for _, item in parts[1]] == ["b", "e"]
    assert parse_shard(None) == (0, 1) and parse_shard("2/4") == (2, 4)
    for bad in ("4/4", "a/b", "1"):
        with pytest.raises(InputError):
            parse_shard(bad)


def test_sharded_register_then_merge(untrained_model, tmp_path):
    rng = np.random.RandomState(0)
    rows = []
    for index in range(5):
        for side in ("m", "f"):
            Image.fromarray((rng.rand(48, 48) * 255).astype(np.uint8)).save(tmp_path / f"{side}{index}.png")
        rows.append(f"m{index}.png,f{index}.png,pair{index}")
    (tmp_path / "pairs.csv").write_text("moving,fixed,name\n" + "\n".join(rows) + "\n")
    out = tmp_path / "out"
    for shard in ("0/2", "1/2"):
        result = run("register", "--pairs", tmp_path / "pairs.csv", "--model", untrained_model, "-o", out,
                     "--shard", shard)
        assert result.exit_code == 0, result.output
        if shard == "0/2":
            incomplete = run("merge", out)
            assert incomplete.exit_code == 2 and "missing shard(s) 1" in incomplete.output
    assert run("merge", out).exit_code == 0
    with open(out / "registrations.csv") as handle:
        merged = list(csv.DictReader(handle))
    assert [row["name"] for row in merged] == [f"pair{i}" for i in range(5)]
    assert all((out / f"pair{i}" / "summary.json").exists() for i in range(5))


def test_merge_without_shards_is_an_error(tmp_path):
    with pytest.raises(InputError, match="no shard tables"):
        merge_tables(tmp_path)
