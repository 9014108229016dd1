"""``mmdet_centermask.serving.image_request``: every bad request becomes a ``BadRequest`` with
its status; a good one is the image mmcv reads from the same file."""
import io

import mmcv
import numpy as np
import pytest
from PIL import Image

from mmdet_centermask.serving import BadRequest, ImageLimits, decode_image


def encoded(array: np.ndarray, fmt: str = 'PNG', **params) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **params)
    return buffer.getvalue()


GRADIENT = np.dstack([np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))] * 3)
GRADIENT[..., 0] = 200  # red channel constant: BGR and RGB differ


@pytest.mark.parametrize('fmt,content_type', [('PNG', 'image/png'), ('JPEG', 'image/jpeg'),
                                              ('PNG', 'application/octet-stream'), ('PNG', '')])
def test_good_image_is_what_mmcv_reads_in_bgr(fmt, content_type):
    body = encoded(GRADIENT, fmt)
    image = decode_image(body, content_type, ImageLimits())
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8
    assert np.array_equal(image, mmcv.imfrombytes(body))
    assert image[0, 0, 2] == 200 if fmt == 'PNG' else abs(int(image[0, 0, 2]) - 200) < 8


def test_exif_orientation_turns_the_image_as_files_are_read():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to view
    buffer = io.BytesIO()
    Image.fromarray(GRADIENT).save(buffer, format='JPEG', exif=exif)
    assert decode_image(buffer.getvalue(), 'image/jpeg', ImageLimits()).shape == (64, 48, 3)


@pytest.mark.parametrize('body,content_type,status,message', [
    (b'', 'image/png', 400, 'empty body'),
    (b'{"image": "..."}', 'application/json', 415, "content type 'application/json'"),
    (b'GIF89a nothing', 'image/gif', 400, 'the body (14 bytes) is not an image'),
    (encoded(GRADIENT)[:-30], 'image/png', 400, 'the image cannot be decoded: the PNG data ends '
     'early'),
    (encoded(GRADIENT, 'JPEG')[:300], 'image/jpeg', 400, 'the image cannot be decoded'),
    (encoded(GRADIENT, 'JPEG')[:-100], 'image/jpeg', 400, 'the image cannot be decoded: the JPEG '
     'data ends early'),
    (encoded(GRADIENT, 'BMP')[:-300], 'image/bmp', 400, 'the image cannot be decoded'),
    (encoded(GRADIENT)[:-20] + b'IDAT' + encoded(GRADIENT)[-20:], 'image/png', 400,
     'the image cannot be decoded: OpenCV reads no PNG image from it'),
])
def test_bad_body_or_type_is_named_with_its_status(body, content_type, status, message):
    with pytest.raises(BadRequest, match=message.replace('(', r'\(').replace(')', r'\)')) as info:
        decode_image(body, content_type, ImageLimits())
    assert info.value.status == status


def test_a_jpeg_with_data_after_its_end_is_whole():
    """Some cameras append data after the end-of-image marker: not a truncation."""
    body = encoded(GRADIENT, 'JPEG') + b'\xff\xda appended by a camera \xff\xd9 trailer'
    assert np.array_equal(decode_image(body, 'image/jpeg', ImageLimits()),
                          mmcv.imfrombytes(encoded(GRADIENT, 'JPEG')))


def test_limits_give_413_before_the_image_is_decoded():
    body = encoded(GRADIENT)
    with pytest.raises(BadRequest, match=f'{len(body)} bytes: .* at most 100 bytes') as info:
        decode_image(body, 'image/png', ImageLimits(max_bytes=100))
    assert info.value.status == 413
    with pytest.raises(BadRequest, match='64x48 pixels: .* at most 3000 pixels') as info:
        decode_image(body, 'image/png', ImageLimits(max_pixels=3000))
    assert info.value.status == 413
