"""Write the option table of every command into its page under docs/commands/.

The tables are made from the command line itself, so they list every option with its
type, default and help; ``tests/test_docs.py`` fails when a page and the command line
differ (run this script after changing an option).

usage: python docs/options.py [--check]
"""

import re
import sys
from pathlib import Path

import click

from acregnet_cli.cli import all_commands

DOCS = Path(__file__).resolve().parent / "commands"
# Which page documents which command.
PAGES = {
    "train-ae": "train.md", "train-reg": "train.md",
    "register": "register.md", "merge": "register.md", "warp": "fields.md", "invert": "fields.md", "compose": "fields.md",
    "evaluate": "evaluate.md",
    "segment": "segment-qc.md", "qc": "segment-qc.md", "corpus": "corpus.md",
    "export": "masks.md", "measure": "masks.md", "score": "masks.md",
    "experiment plausibility": "experiments.md", "experiment codes": "experiments.md",
    "preprocess": "data.md", "phantom": "data.md", "demo": "data.md", "import-tf1": "data.md",
}
BLOCK = re.compile(r"<!-- options: (?P<name>[\w -]+) -->\n.*?<!-- /options -->\n", re.S)


def commands():
    return all_commands()


def _cell(text):
    return " ".join(str(text).split()).replace("|", "\\|")


def table(name, command):
    """The Markdown table of a command's arguments and options."""
    rows = ["| option | value | default | what |", "| --- | --- | --- | --- |"]
    for param in command.params:
        if isinstance(param, click.Argument):
            rows.append(f"| `{param.human_readable_name}` (argument) | {_cell(param.type.name)}"
                        f"{' ...' if param.nargs == -1 else ''} | | |")
            continue
        names = ", ".join(f"`{opt}`" for opt in param.opts + param.secondary_opts)
        if param.is_flag:
            value = "flag"
        elif isinstance(param.type, click.Choice):
            value = " \\| ".join(param.type.choices)
        elif isinstance(param.type, click.IntRange):
            value = f"integer {param.type.min}..{param.type.max if param.type.max is not None else ''}"
        else:
            value = _cell(param.type.name)
        unset = param.default is None or param.default is False or "UNSET" in repr(param.default)
        default = "" if unset or param.is_flag else f"`{param.default}`"
        if param.required:
            default = "required"
        rows.append(f"| {names} | {value} | {default} | {_cell(param.help or '')} |")
    return f"<!-- options: {name} -->\n" + "\n".join(rows) + "\n<!-- /options -->\n"


def render(page_text, page):
    """``page_text`` with its option blocks made anew (missing ones appended)."""
    wanted = [(name, command) for name, command in commands() if PAGES.get(name) == page]
    present = {m.group("name") for m in BLOCK.finditer(page_text)}
    by_name = dict(wanted)
    text = BLOCK.sub(lambda m: table(m.group("name"), by_name[m.group("name")]) if m.group("name") in by_name
                     else "", page_text)
    for name, command in wanted:
        if name not in present:
            text = text.rstrip() + f"\n\n## `acregnet {name}`: all options\n\n" + table(name, command)
    return text


def main_(check=False):
    unmapped = [name for name, _ in commands() if name not in PAGES]
    if unmapped:
        raise SystemExit(f"commands without a page in docs/options.py: {', '.join(unmapped)}")
    stale = []
    for page in sorted(set(PAGES.values())):
        path = DOCS / page
        text = path.read_text()
        new = render(text, page)
        if new != text:
            stale.append(page)
            if not check:
                path.write_text(new)
    return stale


if __name__ == "__main__":
    stale = main_(check="--check" in sys.argv)
    if stale and "--check" in sys.argv:
        raise SystemExit(f"out of date: {', '.join(stale)} (run python docs/options.py)")
