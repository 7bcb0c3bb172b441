"""Experiments of the paper's Section 5 on the learnt anatomical representation.

- :func:`plausibility` (Section 5.1): masks modified by the same number of pixels,
  once plausibly (eroding the borders) and three times implausibly (removing a
  compact block of one structure). A pixel-wise cross-entropy cannot tell them
  apart; the distance between autoencoder codes should be lowest for erosion.
"""

import numpy as np
from scipy import ndimage

MODIFICATIONS = ("erosion", "block left lung", "block right lung", "block heart")
# Datasets with one lung class (Montgomery, Shenzhen): the lungs are its two largest
# connected components, told apart by their side in the image.
LUNG_FIELD_MODIFICATIONS = ("erosion", "block lung on the image's left", "block lung on the image's right")


def modifications_for(class_names):
    """The modifications a dataset's classes allow (JSRT's three structures, or one lung class)."""
    names = [name.lower() for name in class_names[1:]]
    if names == ["left lung", "right lung", "heart"]:
        return MODIFICATIONS
    if names == ["lungs"]:
        return LUNG_FIELD_MODIFICATIONS
    raise ValueError(f"the plausibility study needs JSRT's classes (left lung, right lung, heart) or one "
                     f"'lungs' class, got {', '.join(class_names[1:])}")


def lung_component(labels, side):
    """Boolean mask of the lung (class 1 component) on the image's ``'left'`` or ``'right'``."""
    components, count = ndimage.label(labels == 1)
    if count < 2:
        raise ValueError(f"expected two lungs, found {count} connected region(s)")
    sizes = ndimage.sum_labels(np.ones_like(components), components, index=np.arange(1, count + 1))
    two = np.argsort(sizes)[-2:] + 1
    columns = [np.argwhere(components == k)[:, 1].mean() for k in two]
    chosen = two[int(np.argmax(columns))] if side == "right" else two[int(np.argmin(columns))]
    return components == chosen


def erode_borders(labels, pixels, rng):
    """Set ``pixels`` border pixels of the foreground structures to background.

    Border pixels (foreground with a differently labelled 4-neighbour) are taken in
    rounds, like a one-pixel erosion repeated, in random order within a round.
    """
    labels = labels.copy()
    removed = 0
    while removed < pixels:
        padded = np.pad(labels, 1, mode="edge")
        differs = np.zeros(labels.shape, bool)
        for dy, dx in ((0, 1), (2, 1), (1, 0), (1, 2)):
            differs |= padded[dy:dy + labels.shape[0], dx:dx + labels.shape[1]] != labels
        border = np.argwhere((labels > 0) & differs)
        if len(border) == 0:
            break
        rng.shuffle(border)
        take = border[:pixels - removed]
        labels[take[:, 0], take[:, 1]] = 0
        removed += len(take)
    return labels


def remove_block(labels, cls, pixels, rng):
    """Remove a compact blob of ``pixels`` pixels of class ``cls`` (or inside the boolean
    region ``cls``), centred inside the structure."""
    labels = labels.copy()
    inside = labels == cls if np.ndim(cls) == 0 else np.asarray(cls, bool)
    if inside.sum() <= pixels:
        raise ValueError(f"the structure has only {inside.sum()} pixels, cannot remove {pixels}")
    depth = ndimage.distance_transform_edt(inside)
    candidates = np.argwhere(depth >= max(2.0, np.sqrt(pixels) / 2))
    if len(candidates) == 0:
        candidates = np.argwhere(inside)
    centre = candidates[rng.randint(len(candidates))]
    members = np.argwhere(inside)
    nearest = members[np.argsort(np.abs(members - centre).max(axis=1) + 1e-3 * np.linalg.norm(members - centre, axis=1),
                                 kind="stable")[:pixels]]
    labels[nearest[:, 0], nearest[:, 1]] = 0
    return labels


def modify(labels, modification, pixels, rng):
    """Apply one of :data:`MODIFICATIONS` (JSRT classes: 1 left lung, 2 right lung, 3 heart)
    or :data:`LUNG_FIELD_MODIFICATIONS` (class 1: both lungs)."""
    if modification == "erosion":
        return erode_borders(labels, pixels, rng)
    if modification in LUNG_FIELD_MODIFICATIONS:
        side = "left" if modification.endswith("left") else "right"
        return remove_block(labels, lung_component(labels, side), pixels, rng)
    cls = {"block left lung": 1, "block right lung": 2, "block heart": 3}[modification]
    return remove_block(labels, cls, pixels, rng)


def plausibility(masks, encoder, num_classes, pixels=120, seed=0, modifications=MODIFICATIONS):
    """Cross-entropy and autoencoder loss of modified masks against the originals.

    Parameters
    ----------
    masks : ndarray (N, H, W) of class indices
    encoder : keras.Model (frozen), one-hot masks -> codes
    num_classes : int
    pixels : int
        Pixels changed by every modification.
    modifications : sequence of str
        See :func:`modifications_for`.

    Returns
    -------
    list of dict : mask index, modification, changed pixels, ce_release, ce_textbook, ae.
    """
    import tensorflow as tf

    from acregnet_cli.tf.losses import code_distance, mask_cross_entropy

    rng = np.random.RandomState(seed)
    rows = []
    for index, mask in enumerate(masks):
        original = tf.one_hot(mask[None], num_classes)
        code = encoder(original, training=False)
        for modification in modifications:
            changed = modify(mask, modification, pixels, rng)
            onehot = tf.one_hot(changed[None], num_classes)
            rows.append({
                "mask": index,
                "modification": modification,
                "changed_pixels": int(np.sum(changed != mask)),
                "ce_release": float(mask_cross_entropy(onehot, original, "release")),
                "ce_textbook": float(mask_cross_entropy(onehot, original, "textbook")),
                "ae": float(code_distance(encoder(onehot, training=False), code)),
            })
    return rows


def write_plausibility_report(rows, output, title=""):
    """Write plausibility.csv, plausibility.md (mean (std) per modification) and plausibility.png."""
    from pathlib import Path

    import pandas as pd

    from acregnet_cli.io.atomic import write_text_atomic

    output = Path(output)
    table = pd.DataFrame(rows)
    write_text_atomic(output / "plausibility.csv", table.to_csv(index=False))
    grouped = table.groupby("modification", sort=False)
    lines = ["| modification | changed pixels | cross-entropy (release) | cross-entropy (textbook) | autoencoder loss |",
             "| --- | --- | --- | --- | --- |"]
    summary = {}
    for name, group in grouped:
        summary[name] = {c: (float(group[c].mean()), float(group[c].std(ddof=0)))
                         for c in ("changed_pixels", "ce_release", "ce_textbook", "ae")}
        cells = " | ".join(f"{m:.4f} ({s:.4f})" for m, s in (summary[name][c] for c in ("ce_release", "ce_textbook", "ae")))
        lines.append(f"| {name} | {summary[name]['changed_pixels'][0]:.0f} | {cells} |")
    write_text_atomic(output / "plausibility.md", (f"{title}\n\n" if title else "") + "\n".join(lines) + "\n")

    from acregnet_cli.io.plotting import new_figure, save_figure

    figure = new_figure(10, 4)
    axes = figure.subplots(1, 2)
    names = list(summary)
    for axis, column, label in ((axes[0], "ce_release", "cross-entropy"), (axes[1], "ae", "autoencoder loss")):
        axis.boxplot([table[table.modification == n][column] for n in names])
        axis.set_xticks(range(1, len(names) + 1), names, rotation=20)
        axis.set_ylabel(label)
        axis.set_ylim(0, 1.15 * max(float(table[column].max()), 1e-6))
    figure.suptitle(title or "same number of changed pixels, plausible (erosion) vs implausible (blocks)")
    figure.tight_layout()
    save_figure(figure, output / "plausibility.png")
    return summary


def diagnosis_from_name(name):
    """Binary label from a file name: Montgomery/Shenzhen ``*_1`` (tuberculosis) vs ``*_0``;
    JSRT ``JPCLN*`` (lung nodule) vs ``JPCNN*``. None when the name carries no label."""
    stem = name[:-5] if name.endswith("_mask") else name
    if stem.startswith("JPCLN"):
        return 1
    if stem.startswith("JPCNN"):
        return 0
    if stem.endswith("_1"):
        return 1
    if stem.endswith("_0"):
        return 0
    return None


def representation_study(masks, labels, encoder, num_classes, components=32, folds=20, seed=0):
    """Classify diagnosis from masks: PCA of the masks vs autoencoder codes, SVM, k-fold CV.

    The set is balanced first (the larger class subsampled, seeded). PCA is fitted
    inside each training fold; both feature sets are standardised before an RBF SVM.

    Returns
    -------
    dict : per representation, mean and standard deviation of the fold accuracies,
    and the balanced set's size.
    """
    import tensorflow as tf
    from sklearn.decomposition import PCA
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    labels = np.asarray(labels)
    rng = np.random.RandomState(seed)
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    keep = min(len(positives), len(negatives))
    if keep < folds:
        raise ValueError(f"only {keep} masks of the smaller class: too few for {folds}-fold cross-validation")
    chosen = np.sort(np.concatenate([rng.choice(positives, keep, replace=False),
                                     rng.choice(negatives, keep, replace=False)]))
    masks, labels = masks[chosen], labels[chosen]
    flat = tf.one_hot(masks, num_classes).numpy()[..., 1:].reshape(len(masks), -1)
    codes = np.concatenate([encoder(tf.one_hot(masks[i:i + 64], num_classes), training=False).numpy()
                            for i in range(0, len(masks), 64)])
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    results = {"balanced_set": int(len(masks)), "per_class": int(keep), "folds": folds}
    for name, features, model in (
        ("pca", flat, make_pipeline(PCA(components, random_state=seed), StandardScaler(), SVC())),
        ("autoencoder", codes, make_pipeline(StandardScaler(), SVC())),
    ):
        scores = cross_val_score(model, features, labels, cv=splitter, scoring="accuracy")
        results[name] = {"accuracy_mean": float(scores.mean()), "accuracy_std": float(scores.std()),
                         "fold_accuracies": [float(s) for s in scores]}
    return results
