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


def predicted_quality(image, mask, references, registrar, max_references=20):
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

    Returns
    -------
    best : float
        Highest mean Dice (over the references' foreground classes) reached.
    info : dict : the reference giving it, all Dice values, seconds.
    """
    began = time.perf_counter()
    order, _ = references.rank(image)
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
                                "seconds": time.perf_counter() - began}
