"""The methods an evaluation compares: parsing ``--method`` values, fingerprints of what
makes results reusable, and the runners that register the protocol's pairs.
"""

import dataclasses
import hashlib
import json
import re
import time
from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError
from acregnet_cli.options import RegistrationOptions

# Images are registered and scored at this size (the paper's 256x256).
EVALUATION_SIZE = 256
RESERVED = ("identity", "elastix")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")
_OPTION_SUFFIX = re.compile(r",\s*(passes|outside|prealign)\s*=\s*([^,]*?)\s*$")


@dataclasses.dataclass(frozen=True)
class Method:
    """A registration method to evaluate.

    Attributes
    ----------
    name : str
        Label in tables and file names.
    kind : {'identity', 'elastix', 'model'}
    path : Path or None
        Run directory or weights file of a 'model'.
    passes : int
        Network passes of a 'model' (1: the paper's method; see
        :meth:`acregnet_cli.registration.registrar.Registrar.predict_small`).
    outside : {'edge', 'background'}
        A 'model''s warped mask where the field samples outside the moving image
        ('edge': the paper's protocol; see :class:`acregnet_cli.registration.registrar.Registrar`).
    prealign : {None, 'affine', 'similarity'}
        A global transform fitted before a 'model''s network (an extension; see
        :class:`acregnet_cli.registration.registrar.Registrar`).
    """

    name: str
    kind: str
    path: Path = None
    passes: int = 1
    outside: str = "edge"
    prealign: str = None

    @property
    def options(self):
        """The registration options of a model method, validated."""
        return RegistrationOptions(passes=self.passes, mask_outside=self.outside, prealign=self.prealign)


def parse_method(spec):
    """Parse one ``--method`` value: ``identity``, ``elastix`` or
    ``NAME=RUN[,passes=P][,outside=edge|background][,prealign=affine|similarity]``
    (options in any order).

    The run of ``NAME=RUN`` must exist and hold a registration network
    (``model.json`` naming ``vector_cnn``); nothing is loaded yet.

    Raises
    ------
    InputError
        For any other form, a bad name or a missing or unsuitable run.
    """
    from acregnet_cli.models import load_model

    spec = str(spec).strip()
    if spec in RESERVED:
        if spec == "elastix":
            from acregnet_cli.evaluation.elastix import check_available

            check_available()
        return Method(spec, spec)
    if "=" not in spec:
        raise InputError(f"--method {spec!r}: expected identity, elastix or NAME=RUN (e.g. ac-regnet=runs/jsrt-ac)")
    name, run = (part.strip() for part in spec.split("=", 1))
    if not _NAME.match(name):
        raise InputError(f"--method {spec!r}: NAME must be 1-64 letters, digits or _.+- (starting with a letter or digit)")
    if name in RESERVED:
        raise InputError(f"--method {spec!r}: '{name}' is reserved for the built-in method of that name")
    options = {}
    while suffix := _OPTION_SUFFIX.search(run):
        key, value = suffix.groups()
        if key in options:
            raise InputError(f"--method {spec!r}: {key} is given twice")
        options[key] = value
        run = run[:suffix.start()].strip()
    passes = options.get("passes")
    try:
        registration = RegistrationOptions(passes=None if passes is None else int(passes) if passes.isdigit() else passes,
                                           mask_outside=options.get("outside", "edge"),
                                           prealign=options.get("prealign"))
    except InputError as exc:
        raise InputError(f"--method {spec!r}: {exc}") from None
    if not run:
        raise InputError(f"--method {spec!r}: RUN is empty")
    model = load_model(run)
    if model.kind != "registration":
        raise InputError(f"--method {spec!r}: {model.path} holds a {model.description['architecture']} model, "
                         "not a registration network")
    # Without ",passes=P" the model's own default (its model.json's passes, else 1).
    return Method(name, "model", model.path, registration.passes or model.passes, registration.mask_outside,
                  registration.prealign)


def parse_methods(specs):
    """Parse all ``--method`` values; names must be unique and at least one given."""
    methods = [parse_method(spec) for spec in specs]
    if not methods:
        raise InputError("give at least one --method (identity, elastix or NAME=RUN)")
    seen = set()
    for method in methods:
        if method.name in seen:
            raise InputError(f"method name '{method.name}' is given twice")
        seen.add(method.name)
    return methods


def _weights_digest(path):
    """Digest of the arrays in an HDF5 weights file, by name: the same weights give the
    same digest whatever the file's metadata (HDF5 files written twice differ in bytes)."""
    import h5py

    digest = hashlib.sha256()
    try:
        with h5py.File(path, "r") as handle:
            def visit(name, item):
                if isinstance(item, h5py.Dataset):
                    values = np.asarray(item[()])
                    digest.update(f"{name}:{values.dtype.str}:{values.shape}".encode())
                    digest.update(np.ascontiguousarray(values).tobytes())

            handle.visititems(visit)
    except OSError as error:
        raise InputError(f"{path}: unreadable weights file ({error})") from None
    return digest.hexdigest()


def method_fingerprint(method, elastix_overrides=None):
    """What makes a method's results reusable: elastix parameters; a model's weights,
    what the network computes with them (architecture, size, resize, integration steps)
    and the registration options (passes, mask outside, prealign).
    Labels in ``model.json`` that do not change results (dataset, autoencoder run) are
    left out, so a run and its bundled copy share results."""
    if method.kind == "identity":
        return "identity"
    if method.kind == "elastix":
        from acregnet_cli.evaluation.elastix import fingerprint

        return "elastix-" + fingerprint(elastix_overrides)
    from acregnet_cli.models.files import read_model_json

    run_dir, description = read_model_json(method.path)
    weights = method.path if method.path.is_file() else run_dir / description.get("weights", "vector_cnn.weights.h5")
    if not weights.is_file():
        raise InputError(f"{weights}: weights file not found")
    digest = hashlib.sha256(_weights_digest(weights).encode())
    computes = {key: description.get(key) for key in ("architecture", "size", "resize")}
    computes["integration_steps"] = description.get("integration_steps", 0)
    computes.update(method.options.summary())
    digest.update(json.dumps(computes, sort_keys=True).encode())
    return "model-" + digest.hexdigest()[:16]


class _IdentityRunner:
    """The moving image and mask unchanged."""

    startup_seconds = 0.0

    def run(self, split, moving, fixed, indices):
        for i in indices:
            yield i, split.images[moving[i]], split.labels[moving[i]], 0.0, 0.0


class _ModelRunner:
    """A VectorCNN loaded once, pairs registered in batches."""

    def __init__(self, method, batch_size):
        from acregnet_cli.registration import make_registrar

        began = time.perf_counter()
        options = method.options.replace(engine="tensorflow", batch_size=batch_size)
        self.registrar = make_registrar(method.path, options, keep_onehot=False)
        self.batch_size = batch_size
        self.warmed = False
        self.startup_seconds = time.perf_counter() - began

    def run(self, split, moving, fixed, indices):
        indices = list(indices)
        if indices and not self.warmed:
            # Tracing the network is start-up, not per-pair time.
            began = time.perf_counter()
            i = indices[0]
            self.registrar.register(split.images[moving[i]], split.images[fixed[i]])
            self.startup_seconds += time.perf_counter() - began
            self.warmed = True
        for start in range(0, len(indices), self.batch_size):
            chunk = indices[start:start + self.batch_size]
            began = time.perf_counter()
            results = self.registrar.register_many(
                [(split.images[moving[i]], split.images[fixed[i]], split.labels[moving[i]]) for i in chunk])
            per_pair = (time.perf_counter() - began) / len(chunk)
            for i, result in zip(chunk, results):
                yield i, result.warped, result.warped_mask, per_pair, result.folding_fraction


class _ElastixRunner:
    """Elastix in worker processes; pairs drawn twice are registered once."""

    startup_seconds = 0.0

    def __init__(self, cache_dir, num_classes, jobs, overrides):
        from acregnet_cli.evaluation.elastix import ElastixRunner

        self.runner = ElastixRunner(cache_dir, num_classes, jobs=jobs, overrides=overrides)

    def run(self, split, moving, fixed, indices):
        by_key = {}
        for i in indices:
            key = f"{split.names[moving[i]]}__{split.names[fixed[i]]}"
            by_key.setdefault(key, []).append(i)
        items = [(key, split.images[moving[ids[0]]], split.images[fixed[ids[0]]], split.labels[moving[ids[0]]])
                 for key, ids in by_key.items()]
        for key, warped, mask, seconds, _cached in self.runner.run(items):
            for i in by_key[key]:
                # The warp stays inside elastix: no field to measure folding on.
                yield i, warped, mask, seconds, None


