import mmcv
import numpy as np
from mmengine.fileio import get

from mmdet.datasets.transforms import LoadPanopticAnnotations
from mmdet.registry import TRANSFORMS
from mmdet.structures.mask import BitmapMasks

IGNORE_INDEX = 255


@TRANSFORMS.register_module()
class CheckedLoadPanopticAnnotations(LoadPanopticAnnotations):
    """mmdet's :class:`LoadPanopticAnnotations` that checks the PNG against its annotation.

    With :class:`CheckedCocoPanopticDataset`:

    - a PNG whose size is not the image's, or that holds a segment id (``R + 256 G + 256^2 B``)
      that is in no ``segments_info`` of the image, is a :class:`ValueError` naming the file
      and the ids (mmdet makes such pixels void without a word: the sign of a PNG of another
      image, or of a resized or JPEG-compressed one);
    - ``gt_masks``: one per non-crowd thing segment, in the order of the instances;
      ``gt_seg_map``: the segment's label (things ``0..num_things-1``, stuff after them), 255
      for void; both as mmdet's.
    """

    def _load_masks_and_semantic_segs(self, results: dict) -> None:
        """Load ``gt_masks`` and ``gt_seg_map`` from the panoptic PNG.

        Args:
            results (dict): Result dict from :class:`CheckedCocoPanopticDataset`.

        Raises:
            ValueError: The PNG does not fit the image or its annotation.
        """
        if results.get('seg_map_path', None) is None:
            return
        path = results['seg_map_path']
        png = mmcv.imfrombytes(get(path, backend_args=self.backend_args), flag='color',
                               channel_order='rgb')
        h, w = results['ori_shape']
        if png.shape[:2] != (h, w):
            raise ValueError(f'{path} is {png.shape[1]}x{png.shape[0]} but its image '
                             f'{results.get("img_path")} is {w}x{h}')
        pan_ids = self.rgb2id(png)
        segments = results['segments_info']
        known = set(results.get('segment_ids', [s['id'] for s in segments])) | {0}
        unknown = sorted(set(np.unique(pan_ids).tolist()) - known)
        if unknown:
            raise ValueError(
                f'{path} holds segment ids {unknown[:10]}{" ..." if len(unknown) > 10 else ""} '
                f'that are in no segments_info of image {results.get("img_id")}: is it the PNG '
                'of this image, saved losslessly at its size (ids are R + 256 G + 256^2 B)?')
        gt_seg = np.full(pan_ids.shape, IGNORE_INDEX, dtype=pan_ids.dtype)
        gt_masks = []
        for segment in segments:
            mask = pan_ids == segment['id']
            gt_seg[mask] = segment['category']
            if segment['is_thing']:
                gt_masks.append(mask.astype(np.uint8))
        if self.with_mask:
            results['gt_masks'] = BitmapMasks(gt_masks, h, w)
        if self.with_seg:
            results['gt_seg_map'] = gt_seg
