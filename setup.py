"""Installation of acregnet: the library, its shipped configuration and models, the CLI."""

from pathlib import Path

from setuptools import setup

HERE = Path(__file__).parent


def requirements():
    lines = (HERE / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


setup(
    name="acregnet",
    version="0.1.0",
    description="AC-RegNet: anatomically constrained deformable registration of chest X-rays (TensorFlow 2 / Keras 3)",
    long_description=(HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    # The top-level config/ and data/ folders are installed inside the package.
    packages=["acregnet_cli", "acregnet_cli.config", "acregnet_cli.data"],
    package_dir={"acregnet_cli": "acregnet_cli", "acregnet_cli.config": "config", "acregnet_cli.data": "data"},
    package_data={
        "acregnet_cli.config": ["*.toml", "datasets/*.toml", "elastix/*.txt"],
        "acregnet_cli.data": ["*.md", "models/*/*.json", "models/*/*.h5", "models/*/*.md", "models/*/*.toml"],
    },
    install_requires=requirements(),
    extras_require={"test": ["pytest>=7", "hypothesis>=6"]},
    entry_points={"console_scripts": ["acregnet = acregnet_cli.cli:main"]},
)
