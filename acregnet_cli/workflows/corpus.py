"""Files in, files out for ``acregnet corpus``: masks and RCA quality for every image of a folder.

Streaming: a reader thread decodes the next images while the current batch is
registered, and a writer thread writes masks and journal lines, so memory holds a
few batches whatever the corpus size.

Resumable: each finished image (masked, or failed with its reason) is one line of a
journal (``OUT/.journal/<shard>.jsonl``), appended and flushed after its mask is in
place (written atomically). A rerun, after kill -9 at any moment, skips every image
with a journal line and drops a torn last line; nothing finished is redone and no
torn file is kept. Shards (``--shard I/N``: the images whose position in the sorted
list is I modulo N) keep their own journals and tables (``corpus.shard-I-of-N.csv``);
a run without ``--shard`` into the same folder finds every image done and writes the
whole table, summary and figure: the merge step (``acregnet merge`` joins the tables too).
"""

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from acregnet_cli.errors import AcregnetError, InputError, RunFailure
from acregnet_cli.runtime import Progress
from acregnet_cli.workflows.corpus_files import (
    JOURNALS,
    Journal,
    journal_name,
    list_corpus,
    mask_names,
    read_journals,
)


def _read(root, relpath, max_side, intensity="auto"):
    from acregnet_cli.fields import check_registrable
    from acregnet_cli.io.images import load_radiograph

    path = Path(root) / relpath
    try:
        radiograph = load_radiograph(path, max_side, intensity)
        check_registrable(radiograph.image, path)
        return radiograph, None
    except AcregnetError as exc:
        return None, str(exc).replace(f"{path}: ", "")
    except (OSError, ValueError, MemoryError) as exc:
        return None, f"unreadable ({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"


def run_corpus(root, output, pipeline, threshold=0.92, batch_size=8, shard=(0, 1), strict=False, min_ncc=0.15,
               max_side=4096, echo=None, limit=None, intensity="auto"):
    """Segment and quality-check every image under ``root`` into ``output``; see the module notes.

    Parameters
    ----------
    pipeline : :class:`~acregnet_cli.applications.corpus.CorpusPipeline`
    threshold : float
        Estimated Dice at or above which a mask is accepted (the paper: 0.92).
    min_ncc : float
        An image whose most similar atlas correlates less than this (NCC at 64x64) is
        recorded as not a chest radiograph and not segmented.
    strict : bool
        Raise :class:`RunFailure` at the end if any image failed (the table is written first).
    limit : int, optional
        Only the first ``limit`` images of the sorted list (benchmarks).
    intensity : 'auto', 'dtype' or (lo, hi)
        How stored values become [0, 1] (:func:`acregnet_cli.io.intensity.normalise`);
        each row records the window and whether the image was flipped.
    max_side : int
        Images longer than this are segmented reduced by an integer factor; their masks
        are written at the image's own size all the same.

    Returns
    -------
    dict : the summary (also ``summary.json``, or ``summary.shard-I-of-N.json``).
    """
    from acregnet_cli.io.atomic import folder_lock
    from acregnet_cli.workflows.sharding import select

    began = time.perf_counter()
    output = Path(output)
    if not 0.0 <= threshold <= 1.0:
        raise InputError(f"--threshold must be from 0 to 1, got {threshold}")
    if batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {batch_size}")
    relpaths = list_corpus(root, output)[:limit]
    if not relpaths:
        raise InputError(f"{root}: no images (PNG, JPEG, TIFF, DICOM) found")
    masks = mask_names(relpaths)
    mine = select(relpaths, shard)
    with folder_lock(output, shard):
        done = read_journals(output / JOURNALS, masks)
        todo = [(position, relpath) for position, relpath in mine if relpath not in done]
        if echo is not None:
            echo(f"corpus: {len(relpaths)} images under {root}" + (f", shard {shard[0]}/{shard[1]}: {len(mine)}"
                                                                      if shard[1] > 1 else "")
                 + f"; {len(mine) - len(todo)} done already, {len(todo)} to do")
        journal = Journal(output / JOURNALS / journal_name(shard))
        try:
            computed = _stream(root, output, pipeline, todo, masks, journal, threshold, batch_size, min_ncc,
                               (max_side, intensity), Progress(echo, len(todo), "corpus", "images", "img"))
        finally:
            journal.close()
        rows = read_journals(output / JOURNALS, masks)
        positions = {relpath: position for position, relpath in enumerate(relpaths)}
        wanted = [relpath for _, relpath in mine] if shard[1] > 1 else relpaths
        missing = [relpath for relpath in wanted if relpath not in rows]
        table = [dict(rows[relpath], position=positions[relpath]) for relpath in wanted if relpath in rows]
        from acregnet_cli.workflows.corpus_report import write_report

        summary = write_report(output, table, shard, threshold, pipeline, root, computed,
                               time.perf_counter() - began, missing)
    failed = summary["failed"] + summary["not_chest"]
    if failed:
        # Said even with --json (on standard error): a count the user must not miss.
        views = summary["views"]
        print(f"corpus: warning: {failed} image(s) not segmented: {summary['failed']} failed, {views['other']} "
              f"not frontal chest radiographs, {views['not-radiograph']} masks or drawings (the table's 'view' and "
              "'reason' columns)", file=sys.stderr)
    if strict and failed:
        raise RunFailure(f"{failed} image(s) failed or were not chest radiographs (--strict); see {output}")
    return summary


def _write_mask(output, name, labels, row):
    """Write one image's mask; a file system that refuses this one name (too long, a folder
    in the way) fails this image's row, not the run. A full or read-only disk ends the run."""
    import errno

    from acregnet_cli.io.atomic import write_png_atomic

    mask = output / name
    try:
        # write_png_atomic makes the folders, after checking no link leads out of the output.
        write_png_atomic(mask, labels.astype(np.uint8 if labels.max(initial=0) <= 255 else np.uint16),
                         compress_level=1)
        return True
    except (OSError, RunFailure) as exc:
        cause = exc if isinstance(exc, OSError) else exc.__cause__
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
        row.update(status="failed", reason=f"mask not written to {name} ({' '.join(str(exc).split())[:200]})")
        return False


def _dicom_seg(output, name, labels, source, row):
    """For a DICOM image, its mask also as a DICOM Segmentation (``<mask>.seg.dcm``); one the
    source cannot make (identifiers missing) is said in the row's reason, the mask stays."""
    from acregnet_cli.io.images import is_dicom

    if not is_dicom(source):
        return
    from acregnet_cli.io.dicomseg import write_dicom_seg

    try:
        write_dicom_seg(output / (str(name).removesuffix(".png") + ".seg.dcm"), labels, source)
    except InputError as exc:
        row["reason"] = f"no DICOM Segmentation: {' '.join(str(exc).split())[:200]}"


# What corpus.csv reports of each mask (acregnet_cli.anatomy.measure), in the stored image's
# pixels, or mm for a DICOM with its pixel spacing.
MEASURES = ("ctr", "heart_width", "thoracic_width", "right_lung_area", "left_lung_area", "heart_area",
            "lung_height_ratio")


def _measures(labels, radiograph, path):
    """The mask's measures, read at 512 px or finer (a CTR to about 0.002; full size took
    30 ms an image, a sixth of the corpus's time)."""
    from acregnet_cli.anatomy import measure
    from acregnet_cli.io.images import image_spacing, is_dicom

    step = max(1, int(np.ceil(max(labels.shape) / 512)))
    spacing = image_spacing(path) if is_dicom(path) else None
    pixel = step * radiograph.factor * (spacing or 1.0)
    try:
        found = measure(labels[::step, ::step], pixel)
    except InputError:  # a label set with no lungs or heart named: nothing to measure
        return {}
    return dict({key: found[key] for key in MEASURES}, measure_unit="mm" if spacing else "px")


def _stream(root, output, pipeline, todo, masks, journal, threshold, batch_size, min_ncc, reading, progress):
    """Read ahead, register in batches, write behind; return this run's seconds per image."""
    from acregnet_cli.fields import upsample_labels

    lock = threading.Lock()
    seconds = []

    def write(position, relpath, result, reason, radiograph):
        row = {"image": relpath, "status": "ok", "view": "", "reason": "", "height": None, "width": None, "mask": "",
               "atlases": "", "atlas_ncc": "", "estimated_dice": None, "best_reference": "", "accepted": False,
               "band_fraction": None, "seconds": None, "window": "", "inverted": None, "field_of_view": "",
               "aligned": None, "global_reach": None, "rca_mean": None, "rca_max": None, "atlas_agreement": None,
               **dict.fromkeys(MEASURES), "measure_unit": ""}
        if radiograph is not None:
            row["height"], row["width"] = (int(v) for v in radiograph.stored_shape)
            how = radiograph.intensity.summary()
            # The field of view in the stored image's pixels.
            row.update(window=" ".join(f"{v:g}" for v in how["window"]), inverted=how["inverted"],
                       field_of_view=" ".join(str(v * radiograph.factor) for v in how["field_of_view"]))
        full = None if result is None or result.labels is None else \
            upsample_labels(result.labels, radiograph.factor, radiograph.stored_shape)
        written = full is not None and _write_mask(output, masks[relpath], full, row)
        if written:
            _dicom_seg(output, masks[relpath], full, Path(root) / relpath, row)
            row.update(mask=masks[relpath], view=result.view, atlases=" ".join(result.atlases),
                       atlas_ncc=" ".join(f"{v:.4f}" for v in result.atlas_ncc), band_fraction=result.band_fraction,
                       seconds=round(result.seconds, 4), aligned=result.aligned,
                       atlas_agreement=None if result.agreement is None else round(result.agreement, 5),
                       global_reach=None if result.reach is None else round(result.reach, 3))
            row.update(_measures(result.labels, radiograph, Path(root) / relpath))
            if result.estimated_dice is not None:
                row.update(rca_mean=round(result.rca_mean, 5), rca_max=round(result.rca_max, 5))
                row.update(estimated_dice=round(result.estimated_dice, 5), best_reference=result.best_reference,
                           accepted=bool(result.estimated_dice >= threshold),
                           **{f"dice_{value}": round(dice, 5) for value, dice in result.dice_per_class.items()})
        elif row["status"] == "ok":
            row.update(status="not-chest" if result is not None else "failed",
                       reason=reason or (result.reason if result is not None else ""))
            if result is not None:
                row.update(view=result.view, atlases=" ".join(result.atlases),
                           atlas_ncc=" ".join(f"{v:.4f}" for v in result.atlas_ncc),
                           atlas_agreement=None if result.agreement is None else round(result.agreement, 5))
        with lock:
            journal.append(row)
            progress.update(failed=row["status"] != "ok")

    def collect(pending):
        """Wait for a batch's finish and queue its writes."""
        future, good = pending
        for ((position, relpath), radiograph), result in zip(good, future.result()):
            seconds.append(result.seconds)
            pending_writes.append(writer.submit(write, position, relpath, result, None, radiograph))

    # The network of one batch (TensorFlow, both cores) runs while the NumPy finish of the
    # one before runs in the finisher thread; both release the GIL for their heavy work.
    with ThreadPoolExecutor(max_workers=1) as reader, ThreadPoolExecutor(max_workers=1) as writer, \
            ThreadPoolExecutor(max_workers=1) as finisher:
        pending_writes, pending = [], None
        ahead = [reader.submit(_read, root, relpath, *reading) for _, relpath in todo[:2 * batch_size]]
        next_read = len(ahead)
        for start in range(0, len(todo), batch_size):
            chunk = todo[start:start + batch_size]
            loaded = [future.result() for future in ahead[:len(chunk)]]
            ahead = ahead[len(chunk):]
            while next_read < len(todo) and len(ahead) < 2 * batch_size:
                ahead.append(reader.submit(_read, root, todo[next_read][1], *reading))
                next_read += 1
            good = [(item, image) for item, (image, _) in zip(chunk, loaded) if image is not None]
            for (position, relpath), (image, reason) in zip(chunk, loaded):
                if image is None:
                    pending_writes.append(writer.submit(write, position, relpath, None, reason, None))
            batch = pipeline.start([radiograph.image for _, radiograph in good], min_ncc=min_ncc) if good else None
            if pending is not None:
                collect(pending)
            pending = (finisher.submit(pipeline.finish, batch), good) if batch is not None else None
            # Keep at most two batches of results waiting to be written.
            while len(pending_writes) > 2 * batch_size:
                pending_writes.pop(0).result()
        if pending is not None:
            collect(pending)
        for future in pending_writes:
            future.result()
    if todo:
        progress.update(final=True)
    return seconds


def segment_corpus(root, output, atlas_spec="jsrt:train", reference_spec=None, data_dir=None, model=None, k=5,
                   max_references=10, threshold=0.92, batch_size=8, shard=(0, 1), strict=False, min_ncc=0.15,
                   echo=None, options=None, limit=None, intensity="auto", framing="align", min_agreement=0.90):
    """``acregnet corpus``: load the atlases, references and model, then :func:`run_corpus`.

    ``reference_spec`` defaults to the atlases; ``'none'`` skips quality control.
    ``intensity`` and ``framing``: see :func:`run_corpus` and
    :class:`~acregnet_cli.applications.corpus.CorpusPipeline`. An image whose k warped
    atlases agree less than ``min_agreement`` (mean Dice with their fused mask) is
    recorded 'not-chest', with no mask (None: never).
    """
    from acregnet_cli.applications.corpus import CorpusPipeline
    from acregnet_cli.applications.segmentation import load_atlases
    from acregnet_cli.options import RegistrationOptions
    from acregnet_cli.registration import make_registrar

    if not 1 <= k <= 1000 or not 1 <= max_references <= 1000:
        raise InputError(f"--k and --max-references must be from 1 to 1000, got {k} and {max_references}")
    list_corpus(root, output)  # a wrong folder is said before the atlases load
    atlases, _ = load_atlases(atlas_spec, data_dir)
    references = None
    if (reference_spec or atlas_spec) != "none":
        references = atlases if reference_spec in (None, atlas_spec) else load_atlases(reference_spec, data_dir)[0]
    options = (options or RegistrationOptions()).replace(engine="tensorflow", batch_size=max(32, batch_size * k))
    registrar = make_registrar(model, options, keep_onehot=False)
    if min_agreement is not None and not 0.0 <= min_agreement <= 1.0:
        raise InputError(f"--min-agreement must be from 0 to 1, got {min_agreement}")
    pipeline = CorpusPipeline(atlases, references, registrar, k=k, max_references=max_references, framing=framing,
                              min_agreement=min_agreement)
    return run_corpus(root, output, pipeline, threshold=threshold, batch_size=batch_size, shard=shard, strict=strict,
                      min_ncc=min_ncc, echo=echo, limit=limit, intensity=intensity)
