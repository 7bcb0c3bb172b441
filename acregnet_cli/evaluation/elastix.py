"""The elastix baseline: affine then B-spline registration with itk-elastix.

The parameter files ``config/elastix/affine.txt`` and ``config/elastix/bspline.txt``
hold the values of the AC-RegNet authors' baseline (normalized cross-correlation,
a bending energy penalty of weight 2.0 in the B-spline stage, adaptive stochastic
gradient descent on random samples) and a fixed ``RandomSeed`` so that a pair
registers the same way every time.

Binding
-------
elastix is called through ``itk-elastix`` (module ``itk``: ``ElastixRegistrationMethod``,
``ParameterObject``, ``TransformixFilter``), not SimpleITK-SimpleElastix: the latter
installs a module named ``SimpleITK`` too, replacing the plain SimpleITK that MedPy
depends on, and the two cannot be installed side by side.

Masks
-----
A moving label map is warped with the transform found for its image: each class
becomes a one-hot float image, transformix resamples it with linear interpolation
(``FinalBSplineInterpolationOrder 1``) and the class of highest value is taken at
each pixel. Points that map outside the moving image get 0 in every channel and
hence the background class.

Parallelism and caching
-----------------------
:class:`ElastixRunner` registers pairs in worker processes started with the
``spawn`` method (the parent may hold TensorFlow, which does not survive a fork),
each worker limited to its share of the CPU cores. Each result is written to the
cache folder by the worker as ``<key>.npz`` (warped image, warped mask, seconds)
before it is reported, so an interrupted run loses at most the pairs in flight
and a rerun reads the others back for free.
"""

import concurrent.futures
import hashlib
import json
import multiprocessing
import os
import time
from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError, RunFailure
from acregnet_cli.io.atomic import atomic_path
from acregnet_cli.resources import config_dir

PARAMETER_FILES = ("affine.txt", "bspline.txt")


def parameter_files():
    """Paths of the shipped parameter files, in the order they are applied."""
    folder = config_dir() / "elastix"
    paths = [folder / name for name in PARAMETER_FILES]
    for path in paths:
        if not path.is_file():
            raise RunFailure(f"{path}: elastix parameter file missing from the installation")
    return paths


def fingerprint(overrides=None):
    """A short hash of the parameter files and ``overrides``: results with another are not reused."""
    digest = hashlib.sha256()
    for path in parameter_files():
        digest.update(path.read_bytes())
    digest.update(json.dumps(_normalise_overrides(overrides), sort_keys=True).encode())
    return digest.hexdigest()[:16]


def check_available():
    """Raise :class:`InputError` when itk-elastix cannot be imported."""
    import importlib.util

    try:
        found = importlib.util.find_spec("itk") is not None and importlib.util.find_spec("itk.ElastixPython") is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise InputError("the elastix method needs itk-elastix (pip install 'itk-elastix>=0.25')")


def _normalise_overrides(overrides):
    """``{name: value or list}`` as ``{name: [str, ...]}``, the form elastix parameters take."""
    result = {}
    for key, value in (overrides or {}).items():
        values = value if isinstance(value, (list, tuple)) else [value]
        result[str(key)] = [str(v) for v in values]
    return result


def parameter_object(overrides=None):
    """An ``itk.ParameterObject`` with the shipped maps; ``overrides`` apply to every map.

    Parameters
    ----------
    overrides : dict, optional
        Parameter name to value (or list of values), e.g.
        ``{'MaximumNumberOfIterations': 200}`` for quick tests.
    """
    import itk

    parameters = itk.ParameterObject.New()
    for path in parameter_files():
        parameters.AddParameterFile(str(path))
    for key, values in _normalise_overrides(overrides).items():
        for index in range(parameters.GetNumberOfParameterMaps()):
            parameters.SetParameter(index, key, values)
    return parameters


def _image(array):
    import itk

    # A copy, not a view: the ITK image must not outlive a NumPy buffer it borrows.
    return itk.image_from_array(np.ascontiguousarray(array, dtype=np.float32))


def register_pair(moving, fixed, moving_labels=None, num_classes=None, overrides=None, threads=None):
    """Register ``moving`` onto ``fixed`` with elastix and warp the moving mask the same way.

    Parameters
    ----------
    moving, fixed : ndarray (H, W), float
        Images of the same size, values in [0, 1]; elastix sees them with pixel
        spacing 1.
    moving_labels : ndarray (H, W) of int, optional
        Class indices ``0 .. num_classes - 1`` of the moving image.
    num_classes : int, optional
        Number of classes including background (default: ``moving_labels.max() + 1``).
    overrides : dict, optional
        Parameter values replacing those of the shipped files (see :func:`parameter_object`).
    threads : int, optional
        Threads ITK may use in this process (its global default, set before the
        registration; ``ElastixRegistrationMethod.SetNumberOfThreads`` crashes
        itk-elastix 0.25.4 in the B-spline stage, so it is not used).

    Returns
    -------
    warped : ndarray (H, W), float32, clipped to [0, 1]
    warped_labels : ndarray (H, W), int32, or None without ``moving_labels``
    seconds : float
        Wall time of the registration and the mask warping.
    """
    import itk

    began = time.perf_counter()
    if threads:
        itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(int(threads))
    moving = np.asarray(moving, dtype=np.float32)
    fixed = np.asarray(fixed, dtype=np.float32)
    if moving.shape != fixed.shape:
        raise InputError(f"elastix baseline: images differ in size ({moving.shape} and {fixed.shape})")
    method = itk.ElastixRegistrationMethod.New(_image(fixed), _image(moving))
    method.SetParameterObject(parameter_object(overrides))
    method.SetLogToConsole(False)
    method.SetLogToFile(False)
    method.UpdateLargestPossibleRegion()
    warped = np.clip(np.asarray(itk.array_from_image(method.GetOutput()), dtype=np.float32), 0.0, 1.0)
    warped_labels = None
    if moving_labels is not None:
        moving_labels = np.asarray(moving_labels)
        num_classes = int(num_classes if num_classes is not None else moving_labels.max() + 1)
        transform = method.GetTransformParameterObject()
        for index in range(transform.GetNumberOfParameterMaps()):
            # Linear resampling of the one-hot channels (no overshoot as with order 3).
            transform.SetParameter(index, "FinalBSplineInterpolationOrder", "1")
            transform.SetParameter(index, "ResultImagePixelType", "float")
            transform.SetParameter(index, "DefaultPixelValue", "0")
        channels = []
        for k in range(num_classes):
            transformix = itk.TransformixFilter.New(_image(moving_labels == k))
            transformix.SetTransformParameterObject(transform)
            transformix.SetLogToConsole(False)
            transformix.UpdateLargestPossibleRegion()
            channels.append(np.asarray(itk.array_from_image(transformix.GetOutput()), dtype=np.float32))
        warped_labels = np.argmax(np.stack(channels, axis=-1), axis=-1).astype(np.int32)
    return warped, warped_labels, time.perf_counter() - began


def write_cached(path, warped, warped_labels, seconds):
    """Store one result as ``.npz`` (``image``, ``mask``, ``seconds``), atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, image=np.asarray(warped, np.float32),
                     mask=np.asarray(warped_labels if warped_labels is not None else np.zeros((0, 0)), np.int32),
                     seconds=np.float64(seconds))


def read_cached(path):
    """Read a result written by :func:`write_cached`; None if absent or unreadable (recomputed then)."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            mask = data["mask"]
            return data["image"], (mask if mask.size else None), float(data["seconds"])
    except (OSError, ValueError, KeyError, EOFError):
        return None


def _exit_with_parent():
    """Have the kernel end this worker when its parent dies (a killed evaluate).

    Linux's PR_SET_PDEATHSIG works even while elastix holds the interpreter in a
    long native call; elsewhere this does nothing.
    """
    import ctypes
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL))  # 1 = PR_SET_PDEATHSIG
    except OSError:
        return


def _worker_init(threads):
    _exit_with_parent()
    os.environ.setdefault("ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS", str(threads))
    import itk

    itk.MultiThreaderBase.SetGlobalDefaultNumberOfThreads(int(threads))


def _worker_job(cache_path, moving, fixed, moving_labels, num_classes, overrides, threads):
    warped, warped_labels, seconds = register_pair(moving, fixed, moving_labels, num_classes, overrides, threads)
    write_cached(cache_path, warped, warped_labels, seconds)
    return warped, warped_labels, seconds


def available_cores():
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ElastixRunner:
    """Register many pairs with elastix in worker processes, caching each result.

    Parameters
    ----------
    cache_dir : Path
        Folder of ``<key>.npz`` results.
    num_classes : int
        Classes of the label maps, background included.
    jobs : int
        Worker processes; each gets ``cores // jobs`` threads (at least 1).
    overrides : dict, optional
        Parameter values replacing the shipped ones.
    """

    # What a worker runs per pair (a module-level function: workers are spawned).
    job = staticmethod(_worker_job)

    def __init__(self, cache_dir, num_classes, jobs=1, overrides=None):
        if jobs < 1:
            raise InputError(f"--jobs must be at least 1, got {jobs}")
        self.cache_dir = Path(cache_dir)
        self.num_classes = int(num_classes)
        self.jobs = int(jobs)
        self.overrides = overrides
        self.threads = max(1, available_cores() // self.jobs)

    def cache_path(self, key):
        return self.cache_dir / f"{key}.npz"

    def run(self, items):
        """Register ``[(key, moving, fixed, moving_labels), ...]``.

        Yields
        ------
        (key, warped, warped_labels, seconds, cached) as results arrive: cached
        ones first, then computed ones in completion order.
        """
        todo = []
        for key, moving, fixed, labels in items:
            cached = read_cached(self.cache_path(key))
            if cached is not None:
                yield (key,) + cached + (True,)
            else:
                todo.append((key, moving, fixed, labels))
        if not todo:
            return
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        context = multiprocessing.get_context("spawn")
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=min(self.jobs, len(todo)), mp_context=context,
            initializer=_worker_init, initargs=(self.threads,))
        finished = False
        try:
            futures = {
                pool.submit(self.job, self.cache_path(key), moving, fixed, labels, self.num_classes,
                            self.overrides, self.threads): key
                for key, moving, fixed, labels in todo
            }
            for future in concurrent.futures.as_completed(futures):
                key = futures[future]
                try:
                    warped, warped_labels, seconds = future.result()
                except concurrent.futures.process.BrokenProcessPool as exc:
                    raise RunFailure(f"elastix worker process died ({exc})") from None
                except InputError:
                    raise
                except Exception as exc:  # elastix raises RuntimeError with its own message
                    raise RunFailure(f"elastix failed on pair {key}: {str(exc).strip().splitlines()[-1:]}") from None
                yield key, warped, warped_labels, seconds, False
            finished = True
        finally:
            if not finished:
                # Ctrl-C, an error, or a caller that stopped early: a worker inside elastix's
                # native code hears no signal, and waiting for its pair took over a minute.
                # Its pair is lost; every pair finished is in the cache already.
                for process in list((getattr(pool, "_processes", None) or {}).values()):
                    process.kill()
            pool.shutdown(wait=True, cancel_futures=True)
