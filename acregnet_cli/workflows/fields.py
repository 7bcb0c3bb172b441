"""Files in, files out for ``acregnet warp``: a saved field applied to other images and masks."""

from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError

# An image with this few distinct integer values may be a label map given without --labels.
_FEW_VALUES = 8


def warp_files(field_path, inputs, output, labels=False, overwrite=False, echo=None):
    """Warp each of ``inputs`` by the field at ``field_path`` into ``output/<name>``.

    Images are warped bilinearly and written at their own bit depth, as ``register``
    writes ``warped.png``; with ``labels`` every input is a label map, warped label-safely
    and written with its own values, as ``register --mask`` writes ``warped_mask.png``.
    An image that looks like a label map (few integer values) is warped as an image and
    said so. Inputs must have the size of the field's grid. Every input is checked
    before anything is written.

    Returns
    -------
    list of dict : per input, its output path and kind.
    """
    from acregnet_cli.fields import warp_image, warp_labels
    from acregnet_cli.io.atomic import folder_lock, write_png_atomic
    from acregnet_cli.io.images import probe_image, read_image, read_label_map, to_bit_depth
    from acregnet_cli.io.nifti import read_field

    field = read_field(field_path)
    if not inputs:
        raise InputError("give at least one INPUT image or label map to warp")
    output = Path(output)
    targets = []
    for path in map(Path, inputs):
        shape = probe_image(path)
        if shape != field.shape[:2]:
            raise InputError(f"{path}: {shape[1]}x{shape[0]} pixels, the field's grid {field.shape[1]}x"
                             f"{field.shape[0]}; warp inputs of the size the field was made for")
        target = output / (path.stem + ".png")
        if target.exists() and not overwrite:
            raise InputError(f"{target}: exists already (use --overwrite to replace it)")
        targets.append((path, target))
    if len({target for _, target in targets}) != len(targets):
        raise InputError("two inputs share a file name; their outputs would overwrite each other")
    done = []
    with folder_lock(output):
        for path, target in targets:
            if labels:
                mask = read_label_map(path)
                warped = warp_labels(mask, field)
                write_png_atomic(target, warped.astype(np.uint8 if warped.max(initial=0) <= 255 else np.uint16))
                kind = "labels"
            else:
                image, bits = read_image(path)
                values = np.unique(image).size
                if echo and values <= _FEW_VALUES:
                    echo(f"{path}: {values} distinct values; warped as an image "
                         "(give --labels to warp it as a label map)")
                write_png_atomic(target, to_bit_depth(np.clip(warp_image(image, field), 0.0, 1.0), bits))
                kind = "image"
            done.append({"input": str(path), "output": str(target), "kind": kind})
    return done
