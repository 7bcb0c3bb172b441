"""The package's layout holds: imports point down the layers, no cycles, small modules,
thin commands, and a public API that is what it says."""

import ast
import inspect
from pathlib import Path

import pytest

import acregnet_cli

# The source tree beside the tests (CI tests an installed copy, without setup.py beside it).
PACKAGE = Path(__file__).resolve().parent.parent / "acregnet_cli"
# Top to bottom. A module may import from a layer below its own, or from its own
# subpackage; siblings in one layer do not import each other.
LAYERS = [
    {"cli"},
    {"api", "workflows"},
    {"applications", "evaluation", "training"},
    {"registration"},
    {"models"},
    {"tf"},
    {"datasets"},
    {"np"},
    {"io"},
    {"errors", "options", "fields", "metrics", "anatomy", "runtime", "resources", "architecture", "__init__"},
]
BASE = LAYERS[-1]
MAX_MODULE_LINES = 400
MAX_COMMAND_LINES = 20


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def group(module):
    """The layer unit of a dotted module name: its subpackage, or the base module itself."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer(unit):
    for index, units in enumerate(LAYERS):
        if unit in units:
            return index
    raise AssertionError(f"{unit} is in no layer: add it to LAYERS (and to the package docstring)")


def imports(path):
    """Every acregnet_cli module imported anywhere in a file (function-level imports too)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("acregnet_cli"):
                if (PACKAGE.parent / node.module.replace(".", "/")).is_dir():
                    # "from PACKAGE import x" runs PACKAGE/__init__ whatever x is: a module inside
                    # PACKAGE doing so closes a cycle through its own package.
                    found.add(node.module)
                for alias in node.names:
                    candidate = f"{node.module}.{alias.name}"
                    is_module = (PACKAGE.parent / (candidate.replace(".", "/") + ".py")).exists() or \
                        (PACKAGE.parent / candidate.replace(".", "/")).is_dir()
                    found.add(candidate if is_module else node.module)
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import (use absolute acregnet_cli imports)")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("acregnet_cli"))
    return found


FILES = sorted(PACKAGE.rglob("*.py"))
GRAPH = {module_name(path): imports(path) for path in FILES}


def violations(graph):
    wrong = []
    for module, targets in graph.items():
        source = group(module)
        for target in targets:
            if target == "acregnet_cli":
                continue
            destination = group(target)
            if source == destination and (source not in BASE or (PACKAGE / source).is_dir()):
                continue  # within a subpackage (the base layer's fields/ too)
            if layer(destination) > layer(source):
                continue
            if source in BASE and destination in BASE and destination in ("errors", "options"):
                continue  # base modules may raise the package's errors and read its choices
            wrong.append(f"{module} -> {target}")
    return wrong


def cycles(graph):
    """Strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph.get(node, ()):
            if target not in graph:
                continue
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_every_import_points_down_the_layers():
    assert violations(GRAPH) == []


def test_the_layer_check_catches_an_upward_import():
    # A model file reading a workflow, and a sibling import, must both be caught.
    graph = {"acregnet_cli.models.files": {"acregnet_cli.workflows.register"},
             "acregnet_cli.training.loop": {"acregnet_cli.evaluation.metrics"},
             "acregnet_cli.io.images": {"acregnet_cli.errors"}}
    assert violations(graph) == ["acregnet_cli.models.files -> acregnet_cli.workflows.register",
                                 "acregnet_cli.training.loop -> acregnet_cli.evaluation.metrics"]


def test_no_import_cycles():
    assert cycles(GRAPH) == []
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == [["a", "b", "c"]]


def test_the_cycle_check_sees_a_module_importing_its_own_package(tmp_path):
    """Issue 36, item 12: models/model.py did "from acregnet_cli.models import files",
    through models/__init__, which imports models/model.py."""
    source = tmp_path / "model.py"
    source.write_text("from acregnet_cli.models import files\n")
    graph = {"acregnet_cli.models": {"acregnet_cli.models.model"}, "acregnet_cli.models.model": imports(source)}
    assert cycles(graph) == [["acregnet_cli.models", "acregnet_cli.models.model"]]


def test_no_module_is_large():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in FILES}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}


def body_lines(function):
    """Lines of a function's body, without its decorators and docstring."""
    function = inspect.unwrap(function)
    tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(function)))
    definition = tree.body[0]
    body = definition.body[1:] if ast.get_docstring(definition) else definition.body
    return sum(node.end_lineno - node.lineno + 1 for node in body)


def test_every_command_only_parses_and_calls_the_library():
    from acregnet_cli.cli import all_commands

    long = {name: body_lines(command.callback) for name, command in all_commands()
            if body_lines(command.callback) > MAX_COMMAND_LINES}
    assert long == {}


def test_the_public_api_is_what_all_says():
    for name in acregnet_cli.__all__:
        assert getattr(acregnet_cli, name) is not None, name
    with pytest.raises(AttributeError):
        acregnet_cli.not_a_name  # noqa: B018


def test_the_version_has_one_source():
    setup = (PACKAGE.parent / "setup.py").read_text()
    assert "__version__" in setup and acregnet_cli.__version__ not in setup
