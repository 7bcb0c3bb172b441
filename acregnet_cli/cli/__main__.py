"""``python -m acregnet_cli.cli``: the same as the ``acregnet`` command."""

from acregnet_cli.cli import main

main()
