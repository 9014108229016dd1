from typing import Optional

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
                img = mmcv.imfrombytes(img_bytes, flag=self.color_type,
                                       backend=self.imdecode_backend)
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
