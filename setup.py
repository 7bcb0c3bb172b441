"""Installation of acregnet: the library, its shipped configuration and models, the CLI."""

import re
from pathlib import Path

from setuptools import find_packages, setup

HERE = Path(__file__).parent


def version():
    # One source: the package's __version__ (read as text: importing needs the dependencies).
    text = (HERE / "acregnet_cli" / "__init__.py").read_text()
    return re.search(r'^__version__ = "([^"]+)"', text, re.M).group(1)


def requirements():
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setup(
    name="acregnet",
    version=version(),
    description="AC-RegNet: anatomically constrained deformable registration of chest X-rays (TensorFlow 2 / Keras 3)",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The top-level config/ and data/ folders are installed inside the package.
    packages=find_packages(include=["acregnet_cli", "acregnet_cli.*"]) + ["acregnet_cli.config", "acregnet_cli.data"],
    package_dir={"acregnet_cli": "acregnet_cli", "acregnet_cli.config": "config", "acregnet_cli.data": "data"},
    package_data={
        "acregnet_cli.config": ["*.toml", "datasets/*.toml", "elastix/*.txt"],
        "acregnet_cli.data": ["*.md", "models/*/*.json", "models/*/*.h5", "models/*/*.md", "models/*/*.toml"],
    },
    install_requires=requirements(),
    extras_require={"test": ["pytest>=7", "hypothesis>=6", "pycocotools>=2"]},
    entry_points={"console_scripts": ["acregnet = acregnet_cli.cli:main"]},
)
