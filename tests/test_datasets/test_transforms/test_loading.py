"""CheckedLoadImageFromFile keeps image and annotation aligned and keeps deep images' content.

EXIF-rotated JPEGs (written with Pillow's orientation tag), 16-bit PNGs of 12-bit content, a
size that fits neither orientation, and coco45's real images (loaded exactly as mmcv loads them).
"""
import io
import json
from pathlib import Path

import cv2
import mmcv
import numpy as np
import pytest
from PIL import Image

from mmdet_centermask.datasets import CheckedLoadImageFromFile

COCO45 = Path(__file__).resolve().parents[4] / 'shared' / 'data' / 'coco45'
HEIGHT, WIDTH = 96, 128  # stored pixels: landscape


def load(path: Path, height: int = None, width: int = None) -> np.ndarray:
    results = dict(img_path=str(path), height=height, width=width)
    return CheckedLoadImageFromFile()(results)['img']


@pytest.fixture(scope='module')
def rotated_jpeg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A landscape JPEG with a white top-left corner, tagged 'rotate 90 CW to display' (6)."""
    pixels = np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    pixels[:16, :32] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, 'JPEG', quality=95, exif=exif.tobytes())
    path = tmp_path_factory.mktemp('exif') / 'rotated.jpg'
    path.write_bytes(buffer.getvalue())
    return path


def test_exif_orientation_is_ignored_where_the_annotation_has_the_stored_size(rotated_jpeg):
    # mmcv lets OpenCV rotate it: 128 x 96 (h x w) under an annotation of 96 x 128
    assert mmcv.imread(str(rotated_jpeg)).shape[:2] == (WIDTH, HEIGHT)
    img = load(rotated_jpeg, HEIGHT, WIDTH)
    assert img.shape == (HEIGHT, WIDTH, 3)
    assert np.array_equal(img, cv2.imread(str(rotated_jpeg), cv2.IMREAD_UNCHANGED))
    assert img[:16, :32].min() > 200 and img[16:, 32:].max() < 60  # the corner stays where it is


def test_exif_orientation_is_applied_where_the_annotation_has_the_oriented_size(rotated_jpeg):
    img = load(rotated_jpeg, WIDTH, HEIGHT)  # a tool that annotated the displayed image
    assert np.array_equal(img, mmcv.imread(str(rotated_jpeg)))
    assert img[:32, -16:].min() > 200  # the top-left corner turned to the top right
    assert load(rotated_jpeg).shape == (HEIGHT, WIDTH, 3)  # no size given: as stored


def test_a_size_that_fits_neither_orientation_is_an_error_naming_both(rotated_jpeg):
    with pytest.raises(ValueError, match=r'image .*rotated.jpg is 128x96 \(width x height\) but '
                                         r'its annotation says 100x96: its masks and boxes would '
                                         r'be scaled onto the wrong pixels'):
        load(rotated_jpeg, 96, 100)


def test_16_bit_images_are_scaled_to_8_bits_by_their_maximum(tmp_path):
    values = (np.arange(HEIGHT * WIDTH).reshape(HEIGHT, WIDTH) % 4000).astype(np.uint16)
    path = tmp_path / 'deep.png'
    cv2.imwrite(str(path), values)
    assert mmcv.imread(str(path)).max() == 15  # mmcv keeps the high byte: near black
    img = load(path, HEIGHT, WIDTH)
    expected = np.floor(values.astype(np.float64) * 255 / values.max() + 0.5).astype(np.uint8)
    assert img.dtype == np.uint8 and img.shape == (HEIGHT, WIDTH, 3)
    assert np.array_equal(img, np.dstack([expected] * 3))
    assert img.max() == 255


@pytest.mark.skipif(not (COCO45 / 'images').is_dir(),
                    reason=f'real COCO data not found at {COCO45} (shared data folder)')
def test_coco45_images_load_exactly_as_mmcv_loads_them():
    images = json.loads((COCO45 / 'instances.json').read_text())['images']
    for image in images[:15]:
        path = COCO45 / 'images' / image['file_name']
        assert np.array_equal(load(path, image['height'], image['width']),
                              mmcv.imread(str(path))), path
