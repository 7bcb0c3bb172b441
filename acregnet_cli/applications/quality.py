"""Quality control of segmentations by reverse classification accuracy (RCA).

A predicted mask cannot be scored without its ground truth, but it can be used as
an atlas: its image is registered onto reference images whose masks are known,
the predicted mask is warped with it, and the best Dice reached over the
references estimates the prediction's quality (the paper's Section 5.3, after
Valindria et al.). Predictions under a threshold (0.92 in the paper) are flagged.
"""

import time

import numpy as np

from acregnet_cli.metrics import mean_dice


def predicted_quality(image, mask, references, registrar, max_references=20, framing="none"):
    """RCA estimate of a mask's Dice.

    Parameters
    ----------
    image : ndarray (H, W), the image the mask was predicted for
    mask : ndarray (H, W), predicted label map (values as the references')
    references : AtlasSet
        Images with ground-truth masks.
    registrar : registration.Registrar
    max_references : int
        Only the references most similar to ``image`` (global NCC) are used.
    framing : {'none', 'field-of-view'}
        'field-of-view': the image and its mask are cut to the image's field of view
        (:func:`acregnet_cli.io.intensity.field_of_view`) first, as ``segment`` cuts a
        target (give references cut alike: :meth:`AtlasSet.framed`); padding or a band
        then counts in no registration.

    Returns
    -------
    best : float
        Highest mean Dice (over the references' foreground classes) reached.
    info : dict : the reference giving it, all Dice values, the most similar reference's
        global NCC (``reference_ncc``: under 0.15, ``corpus`` would not take the image for a
        chest radiograph), seconds.
    """
    began = time.perf_counter()
    if framing == "field-of-view":
        from acregnet_cli.fields import crop
        from acregnet_cli.io.intensity import field_of_view

        box = field_of_view(image)
        if tuple(box[2:]) != image.shape:
            best, info = predicted_quality(crop(image, box), crop(mask, box), references, registrar, max_references)
            info["seconds"] = time.perf_counter() - began
            return best, info
    elif framing != "none":
        from acregnet_cli.errors import InputError

        raise InputError(f"qc framing must be field-of-view or none, got {framing!r}")
    order, ncc = references.rank(image)
    chosen = order[:max_references]
    values = references.values
    classes = [v for v in values if v != 0]
    onehot = np.eye(len(values), dtype=np.float32)[np.searchsorted(values, np.clip(mask, values.min(), None))]
    unknown = np.setdiff1d(np.unique(mask), values)
    if unknown.size:
        from acregnet_cli.errors import InputError

        raise InputError(f"mask values {unknown.tolist()} are not among the references' labels {values.tolist()}")
    results = registrar.register_many([(image, references.images[i], onehot, values) for i in chosen])
    dices = [mean_dice(result.warped_mask, references.labels[i], classes) for result, i in zip(results, chosen)]
    best = int(np.argmax(dices))
    return float(dices[best]), {"reference": references.names[chosen[best]], "dices": dices,
                                "reference_ncc": float(ncc[0]), "seconds": time.perf_counter() - began}
