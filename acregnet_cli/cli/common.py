"""What every command shares: the error-reporting group, output, and option decorators.

Option choices are generated from :mod:`acregnet_cli.options`, so a value added
there is offered here without restating it.
"""

import functools
import json
from pathlib import Path

import click

from acregnet_cli import options as choices
from acregnet_cli import runtime
from acregnet_cli.errors import AcregnetError


class AcregnetGroup(click.Group):
    """Click group that turns :class:`AcregnetError` into a one-line message."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            # click's own form is three lines (usage, hint, error); one line, as every error here.
            command = f"{exc.ctx.command_path}: " if exc.ctx is not None and exc.ctx is not ctx else ""
            click.echo(f"acregnet: error: {command}{one_line(exc.format_message())}", err=True)
            ctx.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except KeyboardInterrupt:
            # Outputs are written atomically and finished items are kept: a rerun continues.
            click.echo("acregnet: interrupted; finished work is kept, rerun the command to continue", err=True)
            ctx.exit(130)
        except AcregnetError as exc:
            if runtime.DEBUG:
                raise
            click.echo(f"acregnet: error: {one_line(exc)}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            if runtime.DEBUG:
                raise
            click.echo(f"acregnet: error: {describe_os_error(exc)}", err=True)
            ctx.exit(1)
        except Exception as exc:  # anything else is a failure at run time, reported in one line
            if runtime.DEBUG:
                raise
            click.echo(f"acregnet: error: {exc.__class__.__name__}: {one_line(exc)} (rerun with --debug for the "
                       "traceback)", err=True)
            ctx.exit(1)


def one_line(exc):
    """An exception's message on one line (libraries' messages may span several)."""
    return "; ".join(line.strip() for line in str(exc).strip().splitlines() if line.strip())


def describe_os_error(exc):
    """``FILE: reason`` for a failed read or write, naming a full disk as such."""
    import errno

    reason = exc.strerror or one_line(exc) or exc.__class__.__name__
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left on device"
    return f"{exc.filename}: {reason}" if exc.filename else reason


class FiniteFloat(click.ParamType):
    """A float in a range; NaN and infinities are refused (click's FloatRange lets NaN through)."""

    name = "float"

    def __init__(self, low=None, high=None, low_open=False, high_open=False):
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def convert(self, value, param, ctx):
        import math

        number = value if isinstance(value, float) else click.FLOAT.convert(value, param, ctx)
        below = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        above = self.high is not None and (number >= self.high if self.high_open else number > self.high)
        if not math.isfinite(number) or below or above:
            self.fail(f"{value!r} is not a finite number in {self.describe()}", param, ctx)
        return number

    def describe(self):
        low = "-inf" if self.low is None else self.low
        high = "inf" if self.high is None else self.high
        return f"{'(' if self.low_open or self.low is None else '['}{low}, {high}{')' if self.high_open or self.high is None else ']'}"


class IntensityType(click.ParamType):
    """``auto``, ``dtype`` or a window ``LO,HI`` of stored values, checked when parsed."""

    name = "auto|dtype|LO,HI"

    def convert(self, value, param, ctx):
        from acregnet_cli.errors import InputError
        from acregnet_cli.io.intensity import parse_intensity

        try:
            return parse_intensity(value)
        except InputError as exc:
            self.fail(str(exc).replace("--intensity: ", "").replace("--intensity ", ""), param, ctx)


INTENSITY = click.option(
    "--intensity", type=IntensityType(), default="auto", show_default=True,
    help="How stored values become the image the network sees: auto (a window from the image's own field of view, "
         "its 0.5 and 99.5 percentiles, and inverted images flipped), dtype (divide by 255 or 65535, as the paper's "
         "8-bit images were read), or LO,HI (that window of stored values).")

POSITIVE = FiniteFloat(0, None, low_open=True)
# NumPy's RandomState takes seeds in [0, 2**32).
SEED = click.IntRange(0, 2**32 - 1)
FRACTION = FiniteFloat(0, 1)


def emit(as_json, data, text):
    """Print ``data`` as JSON with ``--json``, else the line ``text`` (a string or a callable)."""
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    elif text is not None:
        click.echo(text() if callable(text) else text)


def progress(as_json):
    """Where progress lines go: standard error, unless the output is JSON."""
    return None if as_json else (lambda line: click.echo(line, err=True))


def apply(function, decorators):
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def json_option(help_text="Print the result as JSON."):
    return click.option("--json", "as_json", is_flag=True, help=help_text)


def overwrite_option(help_text):
    return click.option("--overwrite", is_flag=True, help=help_text)


def dataset_options(function, several=False):
    extra = " Several, joined by commas (jsrt,montgomery,shenzhen), train one network: pairs within each." \
        if several else ""
    return apply(function, [
        click.option("--dataset", required=True,
                     help="Dataset name (jsrt, montgomery, shenzhen) or a dataset TOML file." + extra),
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Data root (default: $ACREGNET_DATA)."),
    ])


def model_option(help_text="Registration model: bundled name, run directory or weights file (default: jsrt)."):
    return click.option("--model", help=help_text)


PASSES = click.option(
    "--passes", type=click.IntRange(1, choices.MAX_PASSES), default=None,
    help="Network passes (default: the model's own, 1 for the paper's): 1 is the paper's method; 2 applies "
         "the network again to the warped image and composes the two fields (an extension; see docs/results.md).")
MASK_OUTSIDE = click.option(
    "--mask-outside", type=click.Choice(choices.MASK_OUTSIDE), default="edge", show_default=True,
    help="The warped mask where the field samples outside the moving image: the label at the border (edge, as "
         "the original release and the paper's evaluation) or background (a mask that touches the border is "
         "then not drawn out into streaks).")
PREALIGN = click.option(
    "--prealign", type=click.Choice(choices.PREALIGN_KINDS),
    help="A global transform between the two images before the network, for pairs framed very differently (an "
         "extension): similarity or affine fitted at network size by gradient descent on minus NCC (needs "
         "TensorFlow), or align: the affine map the network's own field agrees on, refined over up to three "
         "calls, as corpus aligns.")
RESIZE = click.option(
    "--resize", type=click.Choice(choices.RESIZE_METHODS),
    help="Resize between image and network size (default: the model's).")
ENGINE = click.option(
    "--engine", type=click.Choice(choices.ENGINES), default="auto", show_default=True,
    help="numpy skips TensorFlow's start-up (fastest for up to a few hundred pairs on a CPU); auto picks it "
         f"for up to {choices.NUMPY_ENGINE_MAX_PAIRS} pairs when no NVIDIA GPU is present and --prealign is not "
         "similarity or affine.")
BATCH_SIZE = click.option("--batch-size", type=click.IntRange(1, choices.MAX_BATCH_SIZE), default=32,
                          show_default=True, help="Pairs per network call.")


def registration_options(*names):
    """Decorator adding the named registration options (passes, mask_outside, prealign,
    resize, engine, batch_size); the command receives them as ``options``, a validated
    :class:`~acregnet_cli.options.RegistrationOptions`."""
    table = {"passes": PASSES, "mask_outside": MASK_OUTSIDE, "prealign": PREALIGN, "resize": RESIZE,
             "engine": ENGINE, "batch_size": BATCH_SIZE}

    def decorate(function):
        # wraps() carries over the click options declared below this decorator.
        @functools.wraps(function)
        def wrapper(**kwargs):
            given = {name: kwargs.pop(name) for name in names}
            kwargs["options"] = choices.RegistrationOptions(**given)
            return function(**kwargs)

        return apply(wrapper, [table[name] for name in names])

    return decorate


def training_options(function, several=False):
    """The options both training stages take; collected into ``overrides`` for the settings.
    ``several``: ``--dataset`` takes several datasets (train-reg)."""
    return apply(function, [
        click.option("--json", "as_json", is_flag=True, help="Print a machine-readable summary on stdout."),
        click.option("--strategy", type=click.Choice(choices.STRATEGIES), default="default", show_default=True,
                     help="tf.distribute strategy: one device, local GPUs (or CPU devices), or the workers of "
                          "TF_CONFIG."),
        click.option("--cpu-devices", type=click.IntRange(1, 256), help="Split the CPU into this many logical devices (for mirrored)."),
        click.option("--quiet", is_flag=True, help="No progress bar."),
        click.option("--overwrite", is_flag=True, help="Start afresh in a non-empty run directory."),
        click.option("--resume", is_flag=True, help="Continue an interrupted run from its last checkpoint."),
        click.option("--validation-fraction", type=float, help="Hold out this share of the training list (seeded)."),
        click.option("--log-every", type=int, help="Iterations between log rows."),
        click.option("--checkpoint-every", type=int, help="Iterations between checkpoints."),
        click.option("--seed", type=int, help="Random seed (weights, sampling, noise)."),
        click.option("--size", type=int, help="Training image size (64 or 256 with the authors' data)."),
        click.option("--learning-rate", type=float, help="Adam learning rate."),
        click.option("--lr-schedule", type=click.Choice(choices.LR_SCHEDULES),
                     help="Learning rate over the run: constant (the paper), cosine decay, or a step down at 2/3 "
                          "(to learning_rate * final_lr_fraction, 0.1 by default; set in a --config file)."),
        click.option("--batch-size", type=int, help="Batch size."),
        click.option("--iterations", type=int, help="Number of training iterations."),
        click.option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="TOML file overriding the default settings."),
        click.option("-o", "--run-dir", type=click.Path(file_okay=False, path_type=Path),
                     help="Run directory (default: runs/<dataset>-<kind>)."),
        functools.partial(dataset_options, several=several),
    ])


# The keyword arguments of a training command that are not settings.
TRAINING_CONTROLS = ("dataset", "data_dir", "run_dir", "config_file", "resume", "overwrite", "quiet", "as_json",
                     "strategy", "cpu_devices")


def split_training_arguments(kwargs):
    """(controls, settings overrides) of a training command's keyword arguments."""
    controls = {key: kwargs.pop(key) for key in TRAINING_CONTROLS}
    return controls, kwargs
