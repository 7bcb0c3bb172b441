"""DICOM in, DICOM out (issue 35, item 3): masks of DICOM radiographs as DICOM
Segmentation objects that pydicom and highdicom read back pixel for pixel, with the
source's geometry; warped images and masks as NIfTI with the fixed image's spacing."""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from acregnet_cli.cli import main

pytest.importorskip("highdicom")


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def _seg_labels(path, source):
    """The label map of a DICOM Segmentation, segment labels mapped back to SCR values."""
    import highdicom as hd
    import pydicom

    seg = hd.seg.segread(str(path))
    uid = pydicom.dcmread(str(source), stop_before_pixels=True).SOPInstanceUID
    numbers = seg.get_pixels_by_source_instance([uid], combine_segments=True, skip_overlap_checks=True)[0]
    values = {"left lung": 1, "right lung": 2, "heart": 3}
    labels = np.zeros(numbers.shape, np.uint8)
    for description in seg.SegmentSequence:
        labels[numbers == description.SegmentNumber] = values[description.SegmentLabel]
    return labels, seg


@pytest.fixture(scope="module")
def dicom_pair(tmp_path_factory):
    from conftest import write_dicom, write_phantom_pair

    folder = tmp_path_factory.mktemp("dicom")
    moving, fixed, mask = write_phantom_pair(folder, seed=4)
    fixed_dicom = write_dicom(folder / "fixed.dcm", np.asarray(Image.open(fixed), np.uint16) * 16, spacing=0.3)
    result = run("register", moving, fixed_dicom, "--mask", mask, "-o", folder / "out", "--nifti")
    assert result.exit_code == 0, result.output
    return folder, fixed_dicom


def test_register_writes_the_warped_mask_as_a_dicom_segmentation(dicom_pair):
    import pydicom

    folder, fixed = dicom_pair
    out = folder / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert "warped_mask.seg.dcm" in summary["files"]
    labels, seg = _seg_labels(out / "warped_mask.seg.dcm", fixed)
    assert np.array_equal(labels, np.asarray(Image.open(out / "warped_mask.png")))
    source = pydicom.dcmread(str(fixed), stop_before_pixels=True)
    assert (seg.Rows, seg.Columns) == (source.Rows, source.Columns)
    assert seg.StudyInstanceUID == source.StudyInstanceUID and seg.PatientID == source.PatientID
    referenced = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0].ReferencedSOPInstanceUID
    assert referenced == source.SOPInstanceUID
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert [float(v) for v in measures.PixelSpacing] == pytest.approx([0.3, 0.3])
    assert pydicom.dcmread(str(out / "warped_mask.seg.dcm")).Modality == "SEG"


def test_nifti_outputs_carry_the_fixed_spacing(dicom_pair):
    import SimpleITK as sitk

    folder, _ = dicom_pair
    out = folder / "out"
    warped = sitk.ReadImage(str(out / "warped.nii.gz"))
    assert warped.GetSpacing() == pytest.approx((0.3, 0.3))
    assert np.array_equal(sitk.GetArrayFromImage(warped), np.asarray(Image.open(out / "warped.png")))
    mask = sitk.ReadImage(str(out / "warped_mask.nii.gz"))
    assert np.array_equal(sitk.GetArrayFromImage(mask), np.asarray(Image.open(out / "warped_mask.png")))
    field = sitk.ReadImage(str(out / "field.nii.gz"))
    assert mask.GetOrigin() == field.GetOrigin() and mask.GetDirection() == field.GetDirection()


def test_a_dicom_without_the_identifiers_gets_no_segmentation_and_says_why(tmp_path):
    from conftest import write_dicom, write_phantom_pair

    moving, fixed, mask = write_phantom_pair(tmp_path, seed=6)
    bare = write_dicom(tmp_path / "bare.dcm", np.asarray(Image.open(fixed), np.uint16), identified=False)
    result = run("register", moving, bare, "--mask", mask, "-o", tmp_path / "out", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert "StudyInstanceUID" in summary["dicom_seg"] and "SeriesInstanceUID" in summary["dicom_seg"]
    assert not (tmp_path / "out" / "warped_mask.seg.dcm").exists()


@pytest.mark.slow
def test_corpus_writes_a_segmentation_beside_each_dicom_mask(tmp_path, data_root):
    from conftest import write_dicom

    image = np.asarray(Image.open(data_root / "data" / "JSRT" / "LR_256" / "images" / "JPCLN002.png"), np.uint16)
    (tmp_path / "corpus").mkdir()
    source = write_dicom(tmp_path / "corpus" / "a.dcm", image * 16, spacing=1.4)
    result = run("corpus", tmp_path / "corpus", "-o", tmp_path / "out", "--references", "none", "--json")
    assert result.exit_code == 0, result.output
    mask = np.asarray(Image.open(tmp_path / "out" / "masks" / "a.png"))
    labels, _ = _seg_labels(tmp_path / "out" / "masks" / "a.seg.dcm", source)
    assert np.array_equal(labels, mask) and set(np.unique(mask)) == {0, 1, 2, 3}


@pytest.mark.slow
def test_segment_writes_a_segmentation_for_a_dicom_target(tmp_path, data_root):
    from conftest import write_dicom

    image = np.asarray(Image.open(data_root / "data" / "JSRT" / "LR_256" / "images" / "JPCLN003.png"), np.uint16)
    source = write_dicom(tmp_path / "t.dcm", image * 16, spacing=1.4)
    result = run("segment", source, "--atlases", "jsrt:train", "-o", tmp_path / "out", "--no-overlay", "--k", 3)
    assert result.exit_code == 0, result.output
    labels, seg = _seg_labels(tmp_path / "out" / "t_seg.dcm", source)
    assert np.array_equal(labels, np.asarray(Image.open(tmp_path / "out" / "t_mask.png")))
    assert [d.SegmentLabel for d in seg.SegmentSequence] == ["left lung", "right lung", "heart"]
