"""Data shipped with the package (bundled models), installed as acregnet_cli.data."""
