"""File formats written by acregnet, checked against the reference readers."""

import numpy as np
import pytest

from acregnet_cli.io.nifti import write_field_nifti


@pytest.mark.parametrize("suffix", [".nii", ".nii.gz"])
def test_nifti_field_reads_in_itk_as_simpleitk_writes_it(tmp_path, suffix):
    sitk = pytest.importorskip("SimpleITK")
    rng = np.random.RandomState(0)
    field = rng.normal(0, 3, (5, 7, 2)).astype(np.float32)  # non-square: rows 5, columns 7
    spacing = 0.35
    ours = tmp_path / f"ours{suffix}"
    write_field_nifti(ours, field, spacing)

    # What SimpleITK itself writes for the same field in ITK's convention.
    itk_order = (np.stack([field[..., 1], field[..., 0]], axis=-1) * np.float32(spacing)).astype(np.float32)
    reference_image = sitk.GetImageFromArray(itk_order, isVector=True)
    reference_image.SetSpacing((spacing, spacing))
    reference = tmp_path / f"reference{suffix}"
    sitk.WriteImage(reference_image, str(reference))

    got, want = sitk.ReadImage(str(ours)), sitk.ReadImage(str(reference))
    assert got.GetSize() == want.GetSize() == (7, 5)
    assert got.GetNumberOfComponentsPerPixel() == want.GetNumberOfComponentsPerPixel() == 2
    assert got.GetPixelIDValue() == want.GetPixelIDValue()
    np.testing.assert_allclose(got.GetSpacing(), want.GetSpacing(), rtol=1e-6)
    np.testing.assert_allclose(got.GetOrigin(), want.GetOrigin(), atol=1e-9)
    np.testing.assert_allclose(got.GetDirection(), want.GetDirection(), atol=1e-9)
    np.testing.assert_array_equal(sitk.GetArrayFromImage(got), sitk.GetArrayFromImage(want))
    # Channel 0 of the file is x (columns) in millimetres.
    np.testing.assert_allclose(sitk.GetArrayFromImage(got)[..., 0], field[..., 1] * spacing, rtol=1e-6)


def test_nifti_field_is_not_overwritten_unless_asked(tmp_path):
    from acregnet_cli.errors import InputError

    path = tmp_path / "field.nii.gz"
    write_field_nifti(path, np.zeros((4, 4, 2)))
    before = path.read_bytes()
    with pytest.raises(InputError, match="exists already"):
        write_field_nifti(path, np.ones((4, 4, 2)), overwrite=False)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["field.nii.gz"]
