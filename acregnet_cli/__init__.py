"""acregnet: anatomically constrained deformable registration of chest X-rays.

The package is a library first (layers, networks, losses, generators, training,
registration) and a Click command line second (:mod:`acregnet_cli.cli`).
"""

__version__ = "0.1.0"
