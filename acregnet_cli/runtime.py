"""Process-wide set-up: a quiet TensorFlow import, and whether to show its chatter.

TensorFlow is imported only where it is used, so that ``--help``, the NumPy engine
and file checks stay fast; this module imports it once, quietly, for whoever asks.
"""

import os
import sys
import time

# Set by the command line's --debug: TensorFlow's start-up lines are then shown.
DEBUG = False


def import_tensorflow():
    """Import TensorFlow once, hiding the C++ start-up chatter unless :data:`DEBUG`.

    Some of those lines are printed before TensorFlow reads TF_CPP_MIN_LOG_LEVEL,
    so standard error is pointed at /dev/null for the duration of the import.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if DEBUG:
        import tensorflow

        return tensorflow
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 2)
            import tensorflow as tf

            # The first device query reports a missing CUDA driver on CPU machines.
            tf.config.list_physical_devices("GPU")
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    return tf


class Progress:
    """Count, rate and time left of a long run on standard error: one updating line on a
    terminal, a line every 10 s otherwise (``corpus``, ``evaluate``).

    The rate, and so the time left, is measured from the first finished image on: the
    first batch carries TensorFlow's start-up (tracing, compiling), which says nothing of
    the batches after it. Until a second has passed since then, the time left is not said.

    Examples
    --------
    A 20 s start-up, then an image every 0.2 s: 5 images/s, not the 1.7 counted from the start.

    >>> ticks = iter([0.0, 20.0] + [20.0 + 0.2 * i for i in range(1, 100)])
    >>> lines = []
    >>> progress = Progress(lines.append, 100, "corpus", "images", "img", clock=lambda: next(ticks))
    >>> for _ in range(60):
    ...     progress.update()
    >>> lines[0]
    'corpus: 1/100 images (0 failed), estimating the time left'
    >>> lines[1]
    'corpus: 51/100 images (0 failed), 5.0 img/s, 0:09 left'

    Slow items, each said (elastix pairs take about half a minute on 2 cores):

    >>> ticks = iter([0.0] + [30.0 * i for i in range(1, 4)])
    >>> lines = []
    >>> progress = Progress(lines.append, 40, "elastix", "pairs registered", "pair", failures=False,
    ...                     clock=lambda: next(ticks))
    >>> for _ in range(3):
    ...     progress.update()
    >>> lines[-1]
    'elastix: 3/40 pairs registered, 30.0 s/pair, 18:30 left'
    """

    def __init__(self, echo, total, name="corpus", items="images", unit="img", failures=True,
                 clock=time.perf_counter):
        self.echo, self.total, self.clock = echo, total, clock
        self.name, self.items, self.unit, self.failures = name, items, unit, failures
        self.began, self.last = clock(), None
        self.done = self.failed = 0
        self.first = None   # (time, count) of the first finished image
        self.tty = echo is not None and sys.stderr.isatty()

    def update(self, failed=False, final=False):
        if not final:
            self.done += 1
            self.failed += failed
        now = self.clock()
        if self.first is None and self.done:
            self.first = (now, self.done)
        if self.echo is None or not (final or self.last is None or now - self.last >= (0.5 if self.tty else 10.0)):
            return
        self.last = now
        since, counted = self.first or (now, 0)
        if final:
            rate = self.done / max(now - self.began, 1e-9)
            told = ", done"
        elif now - since >= 1.0 and self.done > counted:
            rate = (self.done - counted) / (now - since)
            left = (self.total - self.done) / rate
            told = f", {int(left // 60)}:{int(left % 60):02d} left"
        else:
            rate, told = None, ", estimating the time left"
        per = (f", {rate:.1f} {self.unit}/s" if rate >= 1 else f", {1 / rate:.1f} s/{self.unit}") \
            if rate else ""
        line = f"{self.name}: {self.done}/{self.total} {self.items}" + \
            (f" ({self.failed} failed)" if self.failures else "") + per + told
        if self.tty:
            sys.stderr.write("\r" + line + ("\n" if final else ""))
            sys.stderr.flush()
        else:
            self.echo(line)
