from typing import Optional, Tuple

import cv2
import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile
from mmengine import fileio

from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class CheckedLoadImageFromFile(LoadImageFromFile):
    """mmcv's :class:`LoadImageFromFile` with errors that name the file and the problem.

    For a missing file mmcv raises ``FileNotFoundError`` with the bare path, for bytes its decoder
    cannot read ``AssertionError('failed to load image: PATH')``, and for an empty file an OpenCV
    error that does not name the file. This transform raises ``FileNotFoundError`` (missing file) or
    ``ValueError`` (empty, corrupt, truncated or not an image) naming the path and what to check.

    With ``ignore_empty=True`` it returns None for all three instead: a training dataset
    (mmengine's ``BaseDataset``) then loads another random image, at most ``max_refetch`` times in
    a row, while a test dataset raises ``Test time pipline should not get None data_sample``.

    With ``color_type='color'`` and the ``cv2`` backend (the defaults) it also keeps image and
    annotation aligned and keeps the content of deep images:

    - **EXIF orientation**: the pixels are taken as stored, ignoring the orientation tag, as
      COCO's annotations (made on the stored pixels) require; mmcv lets OpenCV apply the tag, so
      a rotated photo loads in another shape than its annotation's. Where the dataset gives the
      image's ``height`` and ``width`` (COCO files do) and only the oriented image has that size
      (an annotation tool that applied the tag), the oriented image is used. Neither matching
      is a :class:`ValueError` naming both sizes: masks would be scaled onto the wrong pixels.
    - **16-bit (and other deep) images** are scaled to 8 bits by their maximum (mmcv keeps the
      high byte: 12-bit content becomes values 0 to 15); grey and alpha images become BGR.

    Args:
        **kwargs: Arguments of :class:`mmcv.transforms.LoadImageFromFile`.
    """

    def transform(self, results: dict) -> Optional[dict]:
        """Load the image of ``results['img_path']`` as mmcv does (``img``, ``img_shape`` and
        ``ori_shape``).

        Raises:
            FileNotFoundError: The file does not exist.
            ValueError: The file is empty or cannot be decoded.
        """
        path = results['img_path']
        try:
            if self.file_client_args is not None:
                img_bytes = fileio.FileClient.infer_client(self.file_client_args, path).get(path)
            else:
                img_bytes = fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError as error:
            if self.ignore_empty:
                return None
            raise FileNotFoundError(
                f'image file not found: {path} (check data_root, data_prefix.img and the '
                'file_name in the annotation file)') from error
        img, decode_error = None, None
        if img_bytes:
            try:
                if self.color_type == 'color' and self.imdecode_backend == 'cv2':
                    img = self._decode_aligned(img_bytes, path, self._annotated_shape(results))
                else:
                    img = mmcv.imfrombytes(img_bytes, flag=self.color_type,
                                           backend=self.imdecode_backend)
            except ImageSizeMismatch:
                raise
            except Exception as error:  # Pillow and TurboJPEG raise where cv2 returns None
                decode_error = error
        if img is None:
            if self.ignore_empty:
                return None
            raise ValueError(
                f'cannot decode image {path}: its {len(img_bytes)} bytes are not an image that '
                f'{self.imdecode_backend} can read (empty, corrupt, truncated or another format); '
                're-save it or remove it from the annotation file') from decode_error
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results

    @staticmethod
    def _annotated_shape(results: dict) -> Optional[Tuple[int, int]]:
        """(height, width) of the image in its annotation, where the dataset gives it."""
        height, width = results.get('height'), results.get('width')
        return (int(height), int(width)) if height and width else None

    @staticmethod
    def _to_8bit_bgr(img: np.ndarray) -> np.ndarray:
        """A decoded image as 8-bit BGR: deep images scaled by their maximum."""
        if img.dtype != np.uint8:
            peak = float(img.max()) if img.size else 0.
            scale = 255. / peak if peak > 0 else 0.
            img = np.clip(img.astype(np.float32) * scale + 0.5, 0, 255).astype(np.uint8)
        if img.ndim == 2:
            return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if img.shape[2] == 4:
            return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
        return img

    def _decode_aligned(self, img_bytes: bytes, path: str,
                        annotated: Optional[Tuple[int, int]]) -> Optional[np.ndarray]:
        """Decode as stored (no EXIF rotation), or oriented where only that fits the annotation."""
        buffer = np.frombuffer(img_bytes, np.uint8)
        stored = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)  # ignores the EXIF orientation
        if stored is None:
            return None
        img = self._to_8bit_bgr(stored)
        if annotated is None or img.shape[:2] == annotated:
            return img
        oriented = cv2.imdecode(buffer, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
        if oriented is not None and oriented.shape[:2] == annotated:
            return self._to_8bit_bgr(oriented)
        raise ImageSizeMismatch(
            f'image {path} is {img.shape[1]}x{img.shape[0]} (width x height) but its annotation '
            f'says {annotated[1]}x{annotated[0]}: its masks and boxes would be scaled onto the '
            'wrong pixels. Fix width/height in the annotation file, or re-save the image.')


class ImageSizeMismatch(ValueError):
    """An image's size on disk is not the size its annotation gives."""
