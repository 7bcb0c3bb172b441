"""Locate the files shipped with the project (configuration, bundled data).

Installed, the top-level ``config/`` and ``data/`` folders live inside the package
as ``acregnet_cli/config`` and ``acregnet_cli/data`` (see ``setup.py``); run from a
source checkout they are found beside the package.
"""

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _shipped_dir(name):
    inside = _PACKAGE_DIR / name
    if inside.is_dir():
        return inside
    beside = _PACKAGE_DIR.parent / name
    if beside.is_dir():
        return beside
    raise FileNotFoundError(f"the project's {name}/ folder is missing from the installation")


def config_dir():
    """Folder holding the default TOML configuration files."""
    return _shipped_dir("config")


def data_dir():
    """Folder holding data shipped with the package (bundled models)."""
    return _shipped_dir("data")
