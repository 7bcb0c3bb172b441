"""Exceptions that the command line turns into one clear line and an exit code."""


class AcregnetError(Exception):
    """Base class of the errors the command line reports without a traceback."""

    exit_code = 1


class InputError(AcregnetError):
    """A file, argument or configuration the user gave cannot be used (exit code 2)."""

    exit_code = 2


class RunFailure(AcregnetError):
    """Work that started could not finish (exit code 1)."""

    exit_code = 1
