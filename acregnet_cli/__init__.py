"""acregnet: anatomically constrained deformable registration of chest X-rays.

The package is a library first and a command line (``acregnet``) second. Its public
Python API is the names in ``__all__``; they are imported on first use, so that
``import acregnet_cli`` stays cheap and the command line starts at once.

>>> import acregnet_cli as acr
>>> acr.load_model("jsrt").kind
'registration'

The layers, top to bottom (a module imports only from layers below its own):
``cli`` → ``api``, ``workflows`` → ``applications``, ``evaluation``, ``training`` →
``registration`` → ``models`` → ``tf`` → ``datasets`` → ``np`` → ``io`` → the base
modules (``errors``, ``options``, ``fields``, ``metrics``, ``anatomy``, ``runtime``, ...).
"""

import importlib

__version__ = "0.2.0"

# Public name -> the module that defines it.
_PUBLIC = {
    "register": "acregnet_cli.api",
    "load_model": "acregnet_cli.models",
    "Model": "acregnet_cli.models",
    "bundled_models": "acregnet_cli.models",
    "RegistrationOptions": "acregnet_cli.options",
    "Registrar": "acregnet_cli.registration",
    "PairResult": "acregnet_cli.registration",
    "make_registrar": "acregnet_cli.registration",
    "register_files": "acregnet_cli.workflows.register",
    "evaluate_files": "acregnet_cli.workflows.evaluate",
    "read_image": "acregnet_cli.io.images",
    "read_label_map": "acregnet_cli.io.images",
    "jacobian_determinant": "acregnet_cli.fields",
    "folding_fraction": "acregnet_cli.fields",
    "warp_image": "acregnet_cli.fields",
    "warp_labels": "acregnet_cli.fields",
    "compose_fields": "acregnet_cli.fields",
    "invert_field": "acregnet_cli.fields",
    "inversion_report": "acregnet_cli.fields",
    "jacobian_summary": "acregnet_cli.fields",
    "map_points": "acregnet_cli.fields",
    "AcregnetError": "acregnet_cli.errors",
    "InputError": "acregnet_cli.errors",
    "RunFailure": "acregnet_cli.errors",
}

__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(_PUBLIC[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'acregnet_cli' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_PUBLIC))
