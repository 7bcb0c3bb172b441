"""The ``acregnet`` command line: parsing only, each command calling one library function.

Errors the user can act on are printed as one line ``acregnet: error: ...`` with
exit code 2 (bad input) or 1 (failure at run time); ``--debug`` shows tracebacks.
TensorFlow is imported by the library only where it is used, so that ``--help``
stays instant. The commands live in the modules beside this one, by group.
"""

import logging
import os

# One BLAS thread unless the user says otherwise, set before NumPy loads OpenBLAS (or MKL):
# its worker threads spin while they wait, and beside TensorFlow's own pool on a small
# machine that spinning took a fifth of the CPU (corpus at 1024 on 2 cores: 47 s -> 39 s
# for 200 images; benchmarks/results/blas-threads-cpu-2core.md). Our NumPy work is
# small products and element-wise passes, which one thread does as fast.
for _variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import click  # noqa: E402

from acregnet_cli import __version__, runtime  # noqa: E402
from acregnet_cli.cli import apps, data, evaluate, experiment, fields, masks, register, train  # noqa: E402
from acregnet_cli.cli.common import AcregnetGroup  # noqa: E402


@click.group(cls=AcregnetGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="acregnet")
@click.option("--debug", is_flag=True, help="Show full tracebacks on errors.")
def main(debug):
    """AC-RegNet: anatomically constrained deformable registration of chest X-rays."""
    runtime.DEBUG = debug
    if not debug:
        # The libraries' warnings (NumPy, Keras, ITK through Python) are for their developers:
        # an error here is one line, and a run's own notes go through the logger below.
        import warnings

        warnings.simplefilter("ignore")
    # The library's notes (e.g. which of two models of one name was used) go to
    # standard error as one line each.
    logger = logging.getLogger("acregnet_cli")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("acregnet: %(levelname)s: %(message)s"))
        logger.addHandler(handler)


for module in (train, register, fields, evaluate, apps, masks, experiment, data):
    for command in module.COMMANDS:
        main.add_command(command)

def all_commands(group=main, prefix=""):
    """Every command as (``"name"`` or ``"group name"``, click command), groups walked."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from all_commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


if __name__ == "__main__":  # pragma: no cover
    main()
