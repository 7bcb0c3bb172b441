"""Shared fixtures: real data when ACREGNET_DATA is set, synthetic data always."""

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session")
def data_root():
    """The authors' data root; tests needing it are skipped when it is not set."""
    root = os.environ.get("ACREGNET_DATA")
    if not root or not Path(root, "data", "JSRT").is_dir():
        pytest.skip("real data not available: set ACREGNET_DATA to the acrn folder")
    return Path(root)


def synthetic_subject(size, rng):
    """A crude chest-like image and its label map (0 background, 1 left lung, 2 right lung, 3 heart)."""
    yy, xx = np.mgrid[0:size, 0:size] / float(size)
    labels = np.zeros((size, size), np.uint8)
    shift = rng.uniform(-0.04, 0.04, 2)
    scale = rng.uniform(0.9, 1.1, 2)

    def ellipse(cy, cx, ry, rx):
        return ((yy - cy - shift[0]) / (ry * scale[0])) ** 2 + ((xx - cx - shift[1]) / (rx * scale[1])) ** 2 < 1

    labels[ellipse(0.5, 0.3, 0.3, 0.13)] = 2
    labels[ellipse(0.5, 0.7, 0.3, 0.13)] = 1
    labels[ellipse(0.65, 0.55, 0.12, 0.14)] = 3
    body = ellipse(0.5, 0.5, 0.48, 0.42)
    image = 0.15 + 0.55 * body - 0.35 * np.isin(labels, (1, 2)) + 0.2 * (labels == 3)
    image = image + 0.03 * np.sin(40 * yy) * np.isin(labels, (1, 2))  # rib-like texture
    image = np.clip(image + rng.normal(0, 0.01, image.shape), 0, 1)
    return (image * 255).astype(np.uint8), labels


def write_synthetic_dataset(root, count=12, test_count=4, sizes=(64,), seed=0):
    """Write a small dataset in the authors' layout plus its TOML description."""
    from PIL import Image

    rng = np.random.RandomState(seed)
    names = [f"SYN{i:03d}" for i in range(count + test_count)]
    base = Path(root) / "data" / "Synthetic"
    for size in sizes:
        (base / f"LR_{size}" / "images").mkdir(parents=True, exist_ok=True)
        (base / f"LR_{size}" / "labels").mkdir(parents=True, exist_ok=True)
    (base / "split").mkdir(parents=True, exist_ok=True)
    for index, name in enumerate(names):
        for size in sizes:
            image, labels = synthetic_subject(size, np.random.RandomState(seed * 1000 + index))
            Image.fromarray(image).save(base / f"LR_{size}" / "images" / f"{name}.png")
            Image.fromarray(labels * 10).save(base / f"LR_{size}" / "labels" / f"{name}.png")
    for fold, chosen in (("train", names[:count]), ("test", names[count:])):
        for size in sizes:
            for kind in ("images", "labels"):
                lines = [f"./data/Synthetic/LR_{size}/{kind}/{n}.png" for n in chosen]
                (base / "split" / f"{fold}_{kind}_{size}.txt").write_text("\n".join(lines) + "\n")
    config = Path(root) / "synthetic.toml"
    config.write_text(
        'name = "synthetic"\ndirectory = "data/Synthetic"\nsizes = [64]\n'
        "label_values = [0, 10, 20, 30]\n"
        'class_names = ["background", "left lung", "right lung", "heart"]\n'
        "standard_pixels = 256\nstandard_spacing_mm = 1.0\n"
    )
    return config


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory):
    """(data root, dataset TOML) of a 16-subject synthetic dataset at 64 pixels."""
    root = tmp_path_factory.mktemp("synthetic")
    config = write_synthetic_dataset(root)
    return root, config


@pytest.fixture(scope="session")
def synthetic_dataset_256(tmp_path_factory):
    """(data root, dataset TOML) of a 12-subject synthetic dataset at 64 and 256 pixels (4 test images)."""
    root = tmp_path_factory.mktemp("synthetic256")
    config = write_synthetic_dataset(root, count=8, test_count=4, sizes=(64, 256))
    return root, config


@pytest.fixture(scope="session")
def untrained_model(tmp_path_factory):
    """A VectorCNN model folder with random weights: enough to exercise file handling."""
    import keras

    from acregnet_cli.models.files import save_weights_atomic, write_model_json
    from acregnet_cli.tf.networks import vector_cnn

    folder = tmp_path_factory.mktemp("untrained")
    keras.utils.set_random_seed(0)
    save_weights_atomic(vector_cnn(64), folder / "vector_cnn.weights.h5")
    write_model_json(folder, dict(architecture="vector_cnn", size=64, dropout=0.5, resize="modern",
                                  weights="vector_cnn.weights.h5"))
    return folder


def write_phantom_pair(folder, seed, size=128):
    """Two different phantom subjects and the first one's mask as m.png, f.png, mask.png
    (8-bit) in ``folder``; returns the three paths."""
    from PIL import Image

    from acregnet_cli.datasets.phantom import make_subject

    rng = np.random.RandomState(seed)
    (moving, mask), (fixed, _) = make_subject(rng, size), make_subject(rng, size)
    paths = Path(folder) / "m.png", Path(folder) / "f.png", Path(folder) / "mask.png"
    Image.fromarray((moving * 255).astype(np.uint8)).save(paths[0])
    Image.fromarray((fixed * 255).astype(np.uint8)).save(paths[1])
    Image.fromarray(mask).save(paths[2])
    return paths


def write_dicom(path, values, spacing=0.2, photometric="MONOCHROME2", identified=True):
    """A 16-bit DICOM radiograph (CR) of ``values`` at ``path``, with the identifiers a
    DICOM Segmentation copies (``identified``) or without the study and series UIDs."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientID, ds.PatientName = "CR", "P1", "Test^Patient"
    if identified:
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows, ds.Columns = values.shape
    ds.SamplesPerPixel, ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 1, 16, 12, 11, 0
    ds.PhotometricInterpretation = photometric
    ds.PixelSpacing = [spacing, spacing]
    ds.PixelData = np.asarray(values, np.uint16).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return Path(path)


class ShortReach:
    """A stand-in registration network that moves the moving image's bright disk toward the
    fixed image's by 3 px at most per call (a trained network reaches only so far), and
    textured 64 px films of such a disk, for the alignment's tests."""

    size = 64

    def __call__(self, pair):
        rows = np.arange(self.size, dtype=np.float32)[None, :, None]
        bright = np.asarray(pair) > 0.6
        centre = (bright * rows[..., None]).sum(axis=(1, 2)) / bright.sum(axis=(1, 2))
        field = np.zeros(np.shape(pair)[:3] + (2,), np.float32)
        field[..., 0] = np.clip(centre[:, 0] - centre[:, 1], -3, 3)[:, None, None]
        return field

    def film(self, shift, seed):
        """(picture in [0, 1], disk mask) with the disk ``shift`` px below the middle;
        textured, so that no uniform band is cut off as padding."""
        rng = np.random.RandomState(seed)
        rows, columns = np.mgrid[:self.size, :self.size]
        disk = (rows - 32 - shift) ** 2 + (columns - 32) ** 2 < 12 ** 2
        return (0.2 + 0.2 * rng.rand(self.size, self.size) + 0.6 * disk).astype(np.float32), disk.astype(np.uint8)

    def atlases(self, folder, count=3):
        from PIL import Image

        (folder / "images").mkdir(parents=True)
        (folder / "labels").mkdir()
        for index in range(count):
            picture, disk = self.film(0, index)
            Image.fromarray(np.rint(picture * 255).astype(np.uint8)).save(folder / "images" / f"a{index}.png")
            Image.fromarray(disk).save(folder / "labels" / f"a{index}.png")
        return folder


@pytest.fixture
def short_reach():
    return ShortReach()
