"""The image of a request, checked before it reaches the model: every way a request can be bad
becomes a :class:`BadRequest` with an HTTP status and a message, never an error inside mmcv or
torch."""
import io
from dataclasses import dataclass

import mmcv
import numpy as np
from PIL import Image, UnidentifiedImageError

# what a client may send: an image type, or bytes without a type of their own
ACCEPTED_TYPES = ('image/', 'application/octet-stream')


class BadRequest(ValueError):
    """A request the server refuses: ``status`` (400, 413 or 415) and what is wrong."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class ImageLimits:
    """The largest image a server takes: ``max_bytes`` of the encoded file, ``max_pixels`` of
    the decoded image (a small PNG can decode to gigabytes)."""

    max_bytes: int = 20 * 2**20
    max_pixels: int = 50_000_000


def ends_early(body: bytes, image_format: str) -> bool:
    """Whether a JPEG or PNG file stops before the end of its image data: no scan, or no
    end-of-image marker after the last one (JPEG: ``FFDA``, then ``FFD9``, which scan data never
    holds); no ``IDAT`` chunk, or no ``IEND`` after the last one (PNG). Other formats: False
    (Pillow decodes them)."""
    markers = dict(JPEG=(b'\xff\xda', b'\xff\xd9'), PNG=(b'IDAT', b'IEND'))
    if image_format not in markers:
        return False
    data, end = (body.rfind(marker) for marker in markers[image_format])
    return data < 0 or end < data


def decode_image(body: bytes, content_type: str, limits: ImageLimits) -> np.ndarray:
    """The BGR ``uint8`` image of a request body, decoded by mmcv as ``LoadImageFromFile`` decodes
    a file (so that served and offline predictions are the same).

    Pillow reads the header first (type, size). A JPEG or PNG is checked for truncation from its
    markers (:func:`ends_early`), since OpenCV decodes a truncated one without an error; other
    formats are decoded by Pillow once in full to check them.

    Raises:
        BadRequest: 400 for an empty body, a body that is no image or a truncated one, 413 for
            an image over ``limits``, 415 for a content type that is not an image.
    """
    content_type = (content_type or '').split(';')[0].strip().lower()
    if content_type and not content_type.startswith(ACCEPTED_TYPES):
        raise BadRequest(415, f'content type {content_type!r}: send the image file itself '
                         '(image/jpeg, image/png, ... or application/octet-stream)')
    if not body:
        raise BadRequest(400, 'empty body: send an image file')
    if len(body) > limits.max_bytes:
        raise BadRequest(413, f'{len(body)} bytes: the server takes images of at most '
                         f'{limits.max_bytes} bytes')
    try:
        image = Image.open(io.BytesIO(body))
        width, height = image.size
        if width * height > limits.max_pixels:
            raise BadRequest(413, f'{width}x{height} pixels: the server takes images of at most '
                             f'{limits.max_pixels} pixels')
        if ends_early(body, image.format):
            raise BadRequest(400, f'the image cannot be decoded: the {image.format} data ends '
                             'early (a truncated file)')
        if image.format not in ('JPEG', 'PNG'):
            image.load()
    except UnidentifiedImageError:
        raise BadRequest(400, f'the body ({len(body)} bytes) is not an image') from None
    except (OSError, SyntaxError) as error:  # Pillow: truncated or corrupt image data
        raise BadRequest(400, f'the image cannot be decoded: {error}') from None
    decoded = mmcv.imfrombytes(body, flag='color')
    if decoded is None:  # OpenCV: corrupt data
        raise BadRequest(400, f'the image cannot be decoded: OpenCV reads no {image.format} '
                         'image from it')
    return decoded
