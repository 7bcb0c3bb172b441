"""Similarity alignment of a radiograph and its mask to a reference image (elastix).

Used by ``preprocess --align-to``, as the AC-RegNet authors aligned Montgomery and
Shenzhen before resizing. The parameters are ``config/elastix/similarity.txt``.
"""

import numpy as np

from acregnet_cli.resources import config_dir


def align_similarity(image, labels, reference):
    """Align ``image`` to ``reference`` with a similarity transform and resample ``labels`` alike.

    Parameters
    ----------
    image, reference : ndarray (H, W) float in [0, 1], same shape
    labels : ndarray (H, W) of int

    Returns
    -------
    aligned_image : ndarray float32 (H, W)
    aligned_labels : ndarray of labels' dtype (H, W), nearest-neighbour resampled
    """
    import itk

    parameters = itk.ParameterObject.New()
    parameters.AddParameterFile(str(config_dir() / "elastix" / "similarity.txt"))
    fixed = itk.image_from_array(np.ascontiguousarray(reference, dtype=np.float32))
    moving = itk.image_from_array(np.ascontiguousarray(image, dtype=np.float32))
    aligned, transform = itk.elastix_registration_method(fixed, moving, parameter_object=parameters,
                                                         log_to_console=False)
    # Labels: nearest neighbour, so no new label values appear.
    transform.SetParameter("FinalBSplineInterpolationOrder", "0")
    label_image = itk.image_from_array(np.ascontiguousarray(labels, dtype=np.float32))
    warped_labels = itk.transformix_filter(label_image, transform, log_to_console=False)
    return (np.clip(itk.array_from_image(aligned), 0, 1).astype(np.float32),
            np.rint(itk.array_from_image(warped_labels)).astype(labels.dtype))
