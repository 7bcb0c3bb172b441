"""One object for a trained model, however it was named: :func:`load_model`."""

import dataclasses
from pathlib import Path

from acregnet_cli import runtime
from acregnet_cli.errors import InputError
from acregnet_cli.models.files import (
    DEFAULT_MODEL,
    bundled_models,
    integration_steps as steps_of,
    load_autoencoder,
    load_vector_cnn,
    load_vector_cnn_lite,
    read_model_json,
    resolve_model,
)

KINDS = {"vector_cnn": "registration", "mask_autoencoder": "autoencoder"}


@dataclasses.dataclass(frozen=True)
class Model:
    """A trained network found on disk: what it is and how to load it.

    Nothing heavy happens when it is made; TensorFlow or the NumPy network are
    loaded only by :meth:`keras`, :meth:`numpy` or :meth:`autoencoder`.

    Attributes
    ----------
    path : Path
        Run directory, model folder or weights file.
    kind : {'registration', 'autoencoder'}
    description : dict
        The contents of ``model.json``.
    bundled : str or None
        The bundled name, when the model is one of the package's.
    """

    path: Path
    kind: str
    description: dict
    bundled: str = None

    @property
    def size(self):
        """Input side of the network in pixels."""
        return int(self.description.get("size", 64))

    @property
    def resize(self):
        """How images are resized to the network (``modern`` or ``legacy``)."""
        return self.description.get("resize", "modern")

    @property
    def integration_steps(self):
        """Scaling-and-squaring steps of a velocity network; 0 for a displacement network."""
        return steps_of(self.description, self.path) if self.kind == "registration" else 0

    @property
    def passes(self):
        """Network passes the model is used with by default (its model.json's ``passes``, else 1)."""
        return int(self.description.get("passes", 1)) if self.kind == "registration" else 1

    @property
    def label(self):
        """How summaries name the model: its bundled name or its path."""
        return str(self.path)

    def _require(self, kind):
        if self.kind != kind:
            wanted = "a registration network" if kind == "registration" else "a mask autoencoder"
            raise InputError(f"{self.path}: is a {self.description['architecture']} model, not {wanted}")

    def keras(self, size=None):
        """The registration network as a Keras model (imports TensorFlow)."""
        self._require("registration")
        runtime.import_tensorflow()
        return load_vector_cnn(self.path, size=size)[0]

    def numpy(self):
        """The registration network for NumPy inference (no TensorFlow)."""
        self._require("registration")
        return load_vector_cnn_lite(self.path)[0]

    def network(self, engine):
        """The registration network for ``engine`` ('tensorflow' or 'numpy')."""
        if engine == "numpy":
            return self.numpy()
        if engine == "tensorflow":
            return self.keras()
        raise InputError(f"unknown engine {engine!r}: use 'tensorflow' or 'numpy'")

    def autoencoder(self):
        """(encoder, decoder) Keras models of a mask autoencoder."""
        self._require("autoencoder")
        runtime.import_tensorflow()
        encoder, decoder, _ = load_autoencoder(self.path)
        return encoder, decoder


def load_model(name_or_path=None, kind=None):
    """Find a model by bundled name, run directory, model folder or weights file.

    The same resolution serves every place that takes a model: ``--model``,
    ``--ae-run``, ``--init-from``, ``evaluate NAME=RUN``, ``segment``, ``qc`` and
    ``experiment`` (see :func:`acregnet_cli.models.files.resolve_model`).

    Parameters
    ----------
    name_or_path : str or Path, optional
        Default: the bundled ``jsrt`` registration network.
    kind : {None, 'registration', 'autoencoder'}
        Refuse a model of the other kind, naming it.

    Returns
    -------
    Model

    Raises
    ------
    InputError
        If nothing is found, or the model is not of ``kind``.

    Examples
    --------
    >>> model = load_model("jsrt")
    >>> model.kind, model.size, model.bundled
    ('registration', 64, 'jsrt')
    >>> load_model("jsrt-ae").kind
    'autoencoder'
    """
    path = resolve_model(name_or_path)
    _, description = read_model_json(path)
    architecture = description["architecture"]
    if architecture not in KINDS:
        wanted = {"registration": "a registration network", "autoencoder": "a mask autoencoder"}.get(kind)
        raise InputError(f"{path}: is a {architecture} model, not {wanted}" if wanted
                         else f"{path}: unknown architecture {architecture!r}")
    bundled = None
    if str(name_or_path if name_or_path is not None else DEFAULT_MODEL) in bundled_models():
        from acregnet_cli.resources import data_dir

        if path.resolve() == (data_dir() / "models" / str(name_or_path or DEFAULT_MODEL)).resolve():
            bundled = str(name_or_path or DEFAULT_MODEL)
    model = Model(path, KINDS[architecture], description, bundled)
    if kind is not None:
        model._require(kind)
    return model
