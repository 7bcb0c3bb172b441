"""Masks of DICOM radiographs as DICOM Segmentation objects (highdicom), for PACS viewers,
3D Slicer and OHIF: one segment per structure, referencing the source instance.

A DICOM without what a Segmentation must copy from its source (the patient, study and
series identifiers, the SOP instance) is refused in one line naming the attributes.
"""

from pathlib import Path

import numpy as np

from acregnet_cli.errors import InputError

# SNOMED CT codes of the structures (DICOM CID 7151 / 4031); sides are the patient's.
_CODES = {"right lung": ("3341006", "Right lung"), "left lung": ("44029006", "Left lung"),
          "lungs": ("39607008", "Lung"), "heart": ("80891009", "Heart")}
_NEEDED = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID", "Rows", "Columns")


def _highdicom():
    try:
        import highdicom
    except ImportError:
        raise InputError("DICOM Segmentation output needs highdicom (pip install highdicom)") from None
    return highdicom


def segment_names(label_map, values=None):
    """(label value, structure name) of each non-zero label: the SCR convention's names by
    default (:mod:`acregnet_cli.anatomy`), 'lungs' for a single value, else 'label V'."""
    from acregnet_cli.anatomy import SCR_VALUES

    present = [int(v) for v in np.unique(label_map) if v != 0]
    names = {value: name for name, value in (values or SCR_VALUES).items()}
    if values is None and not set(present) <= {1, 2, 3}:
        names = {present[0]: "lungs"} if len(present) == 1 else {}
    return [(value, names.get(value, f"label {value}")) for value in present]


def write_dicom_seg(path, label_map, source_path, values=None):
    """Write ``label_map`` (the source image's size) as a binary DICOM Segmentation of the
    DICOM at ``source_path``, atomically; return the segments written."""
    import pydicom

    from acregnet_cli import __version__
    from acregnet_cli.io.atomic import atomic_path

    hd = _highdicom()
    source = pydicom.dcmread(str(source_path), stop_before_pixels=True)
    missing = [name for name in _NEEDED if name not in source]
    if missing:
        raise InputError(f"{source_path}: a DICOM Segmentation needs the source's {', '.join(missing)}")
    label_map = np.asarray(label_map)
    if label_map.shape != (int(source.Rows), int(source.Columns)):
        raise InputError(f"{source_path}: mask {label_map.shape[1]}x{label_map.shape[0]} is not the image's "
                         f"{source.Columns}x{source.Rows}")
    # The Segmentation copies the patient module: an anonymised file may have it empty.
    for name in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime",
                 "ReferringPhysicianName", "AccessionNumber", "StudyID"):
        if name not in source:
            setattr(source, name, "")
    segments = segment_names(label_map, values)
    category = hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure")
    from pydicom.sr.codedict import codes

    algorithm = hd.AlgorithmIdentificationSequence(name="acregnet", version=__version__,
                                                   family=codes.cid7162.ArtificialIntelligence)
    descriptions = []
    pixels = np.zeros(label_map.shape, np.uint8)
    for number, (value, name) in enumerate(segments, 1):
        code = _CODES.get(name)
        kind = hd.sr.CodedConcept(code[0], "SCT", code[1]) if code else \
            hd.sr.CodedConcept("91723000", "SCT", "Anatomical Structure")
        descriptions.append(hd.seg.SegmentDescription(
            segment_number=number, segment_label=name, segmented_property_category=category,
            segmented_property_type=kind, algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
            algorithm_identification=algorithm))
        pixels[label_map == value] = number
    if not descriptions:
        raise InputError(f"{path}: the mask is empty; a DICOM Segmentation needs at least one segment")
    spacing = source.get("PixelSpacing") or source.get("ImagerPixelSpacing") or [1.0, 1.0]
    # A projection radiograph has no slice: the thickness is a placeholder the standard requires.
    measures = hd.PixelMeasuresSequence(pixel_spacing=[float(v) for v in spacing], slice_thickness=1.0)
    seg = hd.seg.Segmentation(
        source_images=[source], pixel_array=pixels, segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=descriptions, series_instance_uid=hd.UID(), series_number=900,
        sop_instance_uid=hd.UID(), instance_number=1, manufacturer="acregnet",
        manufacturer_model_name="acregnet", software_versions=__version__, device_serial_number="none",
        omit_empty_frames=False, pixel_measures=measures)
    with atomic_path(Path(path)) as tmp:
        seg.save_as(str(tmp))
    return [name for _, name in segments]


def read_dicom_seg(path):
    """The label map of a DICOM Segmentation written by :func:`write_dicom_seg` (segment
    numbers as values) and its segment labels."""
    hd = _highdicom()
    seg = hd.seg.segread(str(path))
    labels = seg.get_pixels_by_source_instance(
        source_sop_instance_uids=[seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
                                  .ReferencedSOPInstanceUID],
        combine_segments=True, skip_overlap_checks=True)[0]
    return np.asarray(labels), [description.SegmentLabel for description in seg.SegmentSequence]
