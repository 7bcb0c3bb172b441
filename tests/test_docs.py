"""The documentation and the command line agree: every command and option is documented,
and every command line the docs show uses options that exist."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "docs"))
import options as doc_options  # noqa: E402  (docs/options.py, the table generator)

PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"] + sorted((ROOT / "experiments").rglob("README.md"))
COMMANDS = dict(doc_options.commands())
# `acregnet COMMAND [SUBCOMMAND] ...` up to the end of a code span, a line or a shell separator.
INVOCATION = re.compile(r"\bacregnet ((?:experiment )?[a-z][a-z0-9-]*)([^`\n;|&]*)")


def option_names(command):
    return {name for param in command.params for name in getattr(param, "opts", []) + getattr(param, "secondary_opts", [])
            if name.startswith("-")} | {"--help", "-h"}


def test_every_command_and_option_is_in_the_docs_and_no_other():
    stale = doc_options.main_(check=True)
    assert stale == [], f"run python docs/options.py: {stale}"
    for name, page in doc_options.PAGES.items():
        text = (ROOT / "docs" / "commands" / page).read_text()
        assert f"<!-- options: {name} -->" in text, (name, page)
    assert set(doc_options.PAGES) == set(COMMANDS)


def test_the_check_catches_an_undocumented_option():
    page = "register.md"
    text = (ROOT / "docs" / "commands" / page).read_text()
    edited = text.replace("| `--max-side` |", "| `--max-sides` |")
    assert doc_options.render(edited, page) != edited


def invocations():
    for page in PAGES:
        for match in INVOCATION.finditer(page.read_text()):
            yield page, match.group(1).strip(), match.group(2)


def test_every_command_line_in_the_docs_uses_real_options():
    wrong = []
    for page, name, rest in invocations():
        if name not in COMMANDS:
            if name not in ("experiment",):
                wrong.append(f"{page.relative_to(ROOT)}: acregnet {name} (no such command)")
            continue
        known = option_names(COMMANDS[name])
        for option in re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", rest):
            if option not in known:
                wrong.append(f"{page.relative_to(ROOT)}: acregnet {name} ... {option}")
    assert wrong == []


def test_the_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    assert 'pip install . && acregnet demo' in readme and 'pytest -q tests' in readme


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_local_links_resolve(page):
    missing = []
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
        if "://" in target:
            continue
        if not (page.parent / target).exists():
            missing.append(target)
    assert missing == []


def test_the_python_api_walkthrough_runs():
    text = (ROOT / "docs" / "python-api.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    namespace = {}
    for block in blocks[:5]:  # sections 1-5; section 6 needs files
        exec(compile(block, "docs/python-api.md", "exec"), namespace)
    assert namespace["result"].field.shape == (256, 256, 2) and namespace["model"].bundled == "montgomery"
    assert len(namespace["results"]) == 2
    assert namespace["report"]["residual_mean_px"] < 0.05 and set(np.unique(namespace["labels"])) <= {0, 1, 2, 3}
