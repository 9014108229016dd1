import os.path as osp
from typing import List

from mmengine.fileio import get_local_path, load

from mmdet.datasets import CocoDataset, CocoPanopticDataset
from mmdet.registry import DATASETS


@DATASETS.register_module()
class CocoPanopticSeparatedDataset(CocoDataset):
    """Instances from a COCO instances json, the semantic map from the COCO panoptic json and PNGs
    of the same images: detectron2's ``coco_2017_{train,val}_panoptic_separated``, what
    centermask2 trains Panoptic-CenterMask on.

    The instances are mmdet's :class:`CocoDataset` ones (polygon masks that may overlap, crowd
    regions as ignored instances), so that ``LoadPolygonAnnotations`` gives the mask branch
    centermask2's polygon targets; a panoptic segment is a thing's visible part only, a bitmap.
    Each image also gets the ``seg_map_path``, ``segments_info`` and ``segment_ids`` of its
    panoptic entry, which :class:`CheckedLoadPanopticAnnotations` (``with_seg`` only) turns into
    ``gt_seg_map``. Annotations of stuff categories in the instances json are not instances.

    Args:
        panoptic_ann_file (str): The COCO panoptic json, relative to ``data_root`` unless
            absolute; ``data_prefix['seg']`` is the folder of its PNGs.
        **kwargs: :class:`CocoDataset` arguments; ``metainfo`` as
            :class:`CheckedCocoPanopticDataset`'s (``classes`` = things then stuff).

    Raises:
        ValueError: The panoptic json lacks an image, has a category the metainfo does not
            name, or the two files give a thing class different labels.
    """

    METAINFO = CocoPanopticDataset.METAINFO

    def __init__(self, *args, panoptic_ann_file: str, **kwargs) -> None:
        self.panoptic_ann_file = panoptic_ann_file
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        """The instances of each image with its panoptic segments."""
        data_list = super().load_data_list()
        path = self.panoptic_ann_file
        if self.data_root and not osp.isabs(path):
            path = osp.join(self.data_root, path)
        with get_local_path(path, backend_args=self.backend_args) as local_path:
            panoptic = load(local_path)
        classes = list(self.metainfo['classes'])
        label_of = {}
        for cat in panoptic['categories']:
            if cat['name'] not in classes:
                raise ValueError(f'{path}: category {cat["id"]} ({cat["name"]!r}) is not among '
                                 'the metainfo classes')
            label_of[cat['id']] = classes.index(cat['name'])
        wrong = {cat_id: (label, label_of.get(cat_id)) for cat_id, label in self.cat2label.items()
                 if label_of.get(cat_id, label) != label}
        if wrong:
            raise ValueError(f'{self.ann_file} and {path} give these category ids other labels '
                             f'(id: (instances label, panoptic label)): {wrong}; order the '
                             "instances json's categories as the metainfo classes")
        is_thing = {cat['id']: bool(cat['isthing']) for cat in panoptic['categories']}
        by_image = {ann['image_id']: ann for ann in panoptic['annotations']}
        for data_info in data_list:
            ann = by_image.get(data_info['img_id'])
            if ann is None:
                raise ValueError(f'{path} has no entry for image {data_info["img_path"]} '
                                 f'(id {data_info["img_id"]}) of {self.ann_file}')
            data_info['seg_map_path'] = osp.join(self.data_prefix.get('seg', ''),
                                                 ann['file_name'])
            data_info['segment_ids'] = [s['id'] for s in ann['segments_info']]
            data_info['segments_info'] = [
                dict(id=s['id'], category=label_of[s['category_id']],
                     is_thing=is_thing[s['category_id']] and not s.get('iscrowd', 0))
                for s in ann['segments_info']]
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """mmdet's parse, keeping the instances of thing classes only."""
        data_info = super().parse_data_info(raw_data_info)
        num_things = len(self.metainfo['thing_classes'])
        data_info['instances'] = [
            instance for instance in data_info['instances']
            if instance['bbox_label'] < num_things]
        return data_info
