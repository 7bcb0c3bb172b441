"""The training loop both stages share, and why it is hand-made.

Keras's ``fit`` would not do here: the loop checkpoints the sampler's random state with
the model and optimizer, so a resumed run draws the very batches the uninterrupted run
would have drawn, and it runs per-replica slices of a global batch under a
``tf.distribute`` strategy. It also writes ``log.csv`` and prints progress.
"""

import csv
import io
import math
import sys
import time
from pathlib import Path

import keras
import tensorflow as tf

from acregnet_cli.errors import InputError
from acregnet_cli.io.atomic import write_text_atomic
from acregnet_cli.models.files import write_settings
from acregnet_cli.options import LR_SCHEDULES


def affine_augmentation(settings):
    """The random affine augmentation (rotation, scale, shift) of a training run's
    settings, or None; both stages take it.

    An extension (the paper trains on the data as they are). In ``train-ae`` each
    training mask is moved by a random affine map
    (:func:`acregnet_cli.tf.sampling.augment_masks`) before the swap noise, so that the
    code sees more shapes and poses than the training list holds; in ``train-reg`` each
    image of a pair moves with its mask by its own map. All three at 0 (the default)
    means no augmentation.
    """
    values = {key: float(settings.get(f"augment_{key}", 0.0)) for key in ("rotation", "scale", "shift")}
    bounds = {"rotation": (0.0, 180.0), "scale": (0.0, 0.9), "shift": (0.0, 0.5)}
    for key, value in values.items():
        low, high = bounds[key]
        if not low <= value <= high:
            raise InputError(f"augment_{key} must be in [{low:g}, {high:g}], got {value:g}")
    if not any(values.values()):
        return None
    return values


def learning_rate_schedule(settings):
    """Adam's learning rate from the settings: a number, or a Keras schedule of the iteration.

    Parameters
    ----------
    settings : dict
        ``learning_rate``, ``iterations`` and optionally ``lr_schedule`` (one of
        :data:`LR_SCHEDULES`, default ``'constant'``) and ``final_lr_fraction``
        (0.1): the share of ``learning_rate`` reached at the end (``'cosine'``) or
        used for the last third of the run (``'step'``).

    Returns
    -------
    float or keras.optimizers.schedules.LearningRateSchedule
        Schedules read the optimizer's iteration count, which checkpoints hold, so
        a resumed run continues on the same curve.
    """
    schedule = settings.get("lr_schedule", "constant")
    base = float(settings["learning_rate"])
    fraction = float(settings.get("final_lr_fraction", 0.1))
    if schedule not in LR_SCHEDULES:
        raise InputError(f"lr_schedule {schedule!r}: expected one of {', '.join(LR_SCHEDULES)}")
    if not 0.0 < fraction <= 1.0:
        raise InputError(f"final_lr_fraction must be in (0, 1], got {fraction}")
    if schedule == "constant":
        return base
    total = int(settings["iterations"])
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(base, decay_steps=total, alpha=fraction)
    return keras.optimizers.schedules.PiecewiseConstantDecay([int(round(2 * total / 3))], [base, base * fraction])


class ProgressPrinter:
    """A one-line progress bar with the latest loss terms, on standard error.

    On a terminal the line is redrawn in place; otherwise (batch jobs, logs) one
    line is printed every ``every`` iterations.
    """

    def __init__(self, total, start=0, every=50, stream=None, enabled=True):
        self.total, self.start, self.every = total, start, every
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.began = time.perf_counter()

    def update(self, step, terms):
        if not self.enabled or (not self.tty and step % self.every and step != self.total):
            return
        done = step - self.start
        elapsed = time.perf_counter() - self.began
        rate = done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - step) / rate if rate > 0 else float("nan")
        width = 24
        filled = int(width * step / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        text = " ".join(f"{k}={v:.4g}" for k, v in terms.items())
        line = f"[{bar}] {step}/{self.total} {rate:.2f} it/s eta {eta:.0f}s {text}"
        if self.tty:
            self.stream.write("\r" + line[:200])
            if step == self.total:
                self.stream.write("\n")
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


class LossLog:
    """``log.csv``: one row per logged iteration with the mean of each loss term."""

    def __init__(self, path, fields):
        self.path = Path(path)
        self.fields = ["iteration", "seconds"] + list(fields)

    def truncate_after(self, step):
        """Drop rows logged after ``step`` (they belong to a run that was interrupted)."""
        if not self.path.exists():
            self.start_new()
            return
        with open(self.path, newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if int(row["iteration"]) <= step]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.fields)
        writer.writeheader()
        writer.writerows(rows)
        write_text_atomic(self.path, buffer.getvalue())

    def start_new(self):
        write_text_atomic(self.path, ",".join(self.fields) + "\n")

    def append(self, values):
        with open(self.path, "a", newline="") as handle:
            csv.DictWriter(handle, fieldnames=self.fields).writerow(values)


class _WindowMean:
    """Running means of the loss terms over the current log window."""

    def __init__(self):
        self.sums, self.count = {}, 0

    def add(self, terms):
        for key, value in terms.items():
            self.sums[key] = self.sums.get(key, 0.0) + float(value)
        self.count += 1

    def pop(self):
        means = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        self.sums, self.count = {}, 0
        return means


def prepare_run_dir(run_dir, resume, overwrite):
    run_dir = Path(run_dir)
    checkpoints = run_dir / "checkpoints"
    # The lock a workflow holds on the run directory (io.atomic.folder_lock) is not content.
    content = [p for p in run_dir.iterdir() if not p.name.endswith(".lock")] if run_dir.exists() else []
    if content and not (resume or overwrite):
        raise InputError(f"{run_dir}: run directory is not empty (use --resume to continue it or --overwrite)")
    if resume and not checkpoints.exists():
        raise InputError(f"{run_dir}: nothing to resume (no checkpoints/ folder)")
    if overwrite and not resume and checkpoints.exists():
        for item in checkpoints.iterdir():
            item.unlink()
    run_dir.mkdir(parents=True, exist_ok=True)
    return run_dir


def start_run(run_dir, settings, recorded, chief, resume, overwrite):
    """Prepare the run directory and write config.toml (chief only), then seed everything."""
    if chief:
        run_dir = prepare_run_dir(run_dir, resume, overwrite)
        write_settings(run_dir, dict(settings, **recorded))
    keras.utils.set_random_seed(settings["seed"])
    return run_dir


# Iterations between sample images in the TensorBoard log (loss terms go at every log row).
SAMPLE_EVERY = 500


def run_loop(step_fn, state, settings, run_dir, log_fields, resume, progress, finish, chief=True, task="chief",
             sample_fn=None):
    """Shared loop: restore, iterate with logging and checkpoints, finish.

    ``state`` is a ``tf.train.Checkpoint`` holding at least ``step``. A worker that
    is not the chief checkpoints into a temporary folder (every worker must take
    part in a save) and writes nothing else. The chief also writes TensorBoard
    summaries into ``run_dir/tensorboard``: each loss term at every log row, and
    ``sample_fn()`` (a (1, H, W, 1) image in [0, 1], e.g. moving | fixed | warped)
    every :data:`SAMPLE_EVERY` iterations and at the end.
    """
    import shutil
    import tempfile

    scratch = None if chief else Path(tempfile.mkdtemp(prefix=f"acregnet-{task}-"))
    if scratch is not None and resume and (run_dir / "checkpoints").exists():
        shutil.copytree(run_dir / "checkpoints", scratch / "checkpoints")
    checkpoint_dir = (scratch or run_dir) / "checkpoints"
    manager = tf.train.CheckpointManager(state, str(checkpoint_dir), max_to_keep=2)
    log = LossLog((scratch or run_dir) / "log.csv", log_fields)
    if resume and manager.latest_checkpoint:
        state.restore(manager.latest_checkpoint).expect_partial()
        log.truncate_after(int(state.step.numpy()))
    else:
        log.start_new()
    start = int(state.step.numpy())
    total = settings["iterations"]
    printer = ProgressPrinter(total, start=start, every=settings["log_every"], enabled=progress)
    window = _WindowMean()
    began = time.perf_counter()
    summaries = None
    if chief:
        import importlib.util

        if importlib.util.find_spec("tensorboard") is None:
            # A requirement, but an environment may lack it: train without the summaries.
            print("acregnet: note: tensorboard is not installed; no TensorBoard summaries", file=sys.stderr)
        else:
            summaries = tf.summary.create_file_writer(str(run_dir / "tensorboard"))
    for step in range(start + 1, total + 1):
        terms = {k: v.numpy() for k, v in step_fn().items()}
        if not all(math.isfinite(v) for v in terms.values()):
            raise FloatingPointError(f"loss became non-finite at iteration {step}: {terms}")
        window.add(terms)
        state.step.assign(step)
        if step % settings["log_every"] == 0 or step == total:
            means = window.pop()
            log.append(dict(iteration=step, seconds=round(time.perf_counter() - began, 3), **means))
            printer.update(step, means)
            if summaries is not None:
                with summaries.as_default(step=step):
                    for name, value in means.items():
                        tf.summary.scalar(f"loss/{name}", value)
                    if sample_fn is not None and (step % SAMPLE_EVERY < settings["log_every"] or step == total):
                        tf.summary.image("sample", sample_fn())
                summaries.flush()
        if step % settings["checkpoint_every"] == 0 or step == total:
            manager.save(checkpoint_number=step)
    if summaries is not None:
        summaries.close()
    if chief:
        finish()
    else:
        shutil.rmtree(scratch, ignore_errors=True)
    return {"iterations": total, "resumed_from": start, "seconds": time.perf_counter() - began}


def replicated(strategy, replica_fn, batch_size, *global_args):
    """Run ``replica_fn(*local_slices)`` on every replica and average the returned terms.

    The arguments are global batches (the same on every worker: one seeded
    sampler each); replica ``r`` of ``n`` takes rows ``r * b/n .. (r+1) * b/n``.
    """
    replicas = strategy.num_replicas_in_sync

    def run_replica(*arrays):
        context = tf.distribute.get_replica_context()
        local = batch_size // replicas
        start = context.replica_id_in_sync_group * local
        return replica_fn(*[array[start:start + local] for array in arrays])

    per_replica = strategy.run(run_replica, args=global_args)
    return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None) for k, v in per_replica.items()}


def check_replicas(strategy, batch_size):
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise InputError(f"batch size {batch_size} does not split evenly over {replicas} replicas")
    return replicas


