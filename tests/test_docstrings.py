"""The Examples in the package's docstrings run, and give what they show."""

import doctest
import importlib
from pathlib import Path

import pytest

import acregnet_cli

PACKAGE = Path(acregnet_cli.__file__).parent
WITH_EXAMPLES = sorted(
    ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
    for path in PACKAGE.rglob("*.py") if ">>> " in path.read_text())


def test_the_public_api_has_examples():
    assert {"acregnet_cli", "acregnet_cli.api", "acregnet_cli.options", "acregnet_cli.models.model"} <= \
        set(WITH_EXAMPLES)


@pytest.mark.parametrize("module", WITH_EXAMPLES)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
