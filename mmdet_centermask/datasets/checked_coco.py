import json
import logging
import math
from collections import Counter, defaultdict
from typing import Dict, List, Tuple

from mmengine.logging import print_log

from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

NUM_EXAMPLES = 3
# what each problem does to an instance in 'warn' mode
PROBLEMS = {
    'unknown_category': 'a category_id that is not among the file\'s categories',
    'bad_box': 'a bbox that is not 4 finite numbers',
    'empty_box': 'a bbox of zero or negative width or height',
    'empty_segmentation': 'no segmentation (missing or [])',
    'short_polygon': 'polygons of fewer than 3 points only',
}
# polygons of fewer than 3 points make pycocotools' frPyObjects fail (``TypeError: Argument 'bb'
# has incorrect type`` for 2 points): in an evaluated file that would end the run at its metric
CRASHES_EVALUATION = ('empty_segmentation', 'short_polygon')


@DATASETS.register_module()
class CheckedCocoDataset(CocoDataset):
    """mmdet's :class:`CocoDataset` that checks its annotation file and never fails silently.

    mmdet (pycocotools) gives the boxes of one image to another when two images share an id,
    drops annotations with NaN boxes or unknown categories without a word, stops at the first
    batch with ``KeyError: 'mask'`` on ``segmentation: []``, and fails in the final evaluation on
    a polygon of two points. Here, when the file is read:

    - duplicate image ids, and metainfo classes that are not among the file's categories, raise
      a :class:`ValueError` naming them (there is no right way to go on);
    - instances with an unknown ``category_id``, a non-finite or empty box, no segmentation, or
      only polygons of fewer than 3 points are dropped with one warning that counts each kind
      and names examples (``annotation_check='warn'``), or raise a :class:`ValueError` naming
      the first (``'strict'``); polygons of fewer than 3 points beside valid ones are removed
      from the instance. detectron2's ``load_coco_json`` drops (and counts) the same polygons.
      In a test-mode dataset (what the COCO evaluator reads) masks that would stop the
      evaluation raise in both modes, before the run starts;
    - an annotation file that is not valid JSON (truncated) raises naming the file;
    - a filter that leaves no image raises a :class:`ValueError` saying why (mmengine's is
      ``need at least one array to concatenate``).

    Args:
        annotation_check (str): ``'warn'`` or ``'strict'``. Defaults to ``'warn'``.
        check_masks (bool): Whether instances need a segmentation (False for detection).
            Defaults to True.
        **kwargs: Arguments of :class:`mmdet.datasets.CocoDataset`.
    """

    def __init__(self, *args, annotation_check: str = 'warn', check_masks: bool = True,
                 **kwargs) -> None:
        if annotation_check not in ('warn', 'strict'):
            raise ValueError(f"annotation_check must be 'warn' or 'strict', got "
                             f'{annotation_check!r}')
        self.annotation_check = annotation_check
        self.check_masks = check_masks
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        """mmdet's loading, with the file checked first and one warning for what was dropped."""
        self._dropped: Dict[str, List[Tuple[int, str]]] = defaultdict(list)
        self._file_checked = False
        try:
            data_list = super().load_data_list()
        except json.JSONDecodeError as error:  # says where, not which file
            raise ValueError(f'annotation file {self.ann_file} is not valid JSON ({error}): '
                             'it may be truncated (an interrupted download or copy)') from None
        if self._dropped:
            total = sum(len(examples) for examples in self._dropped.values())
            kinds = '; '.join(f'{len(examples)} with {PROBLEMS[kind]} ({self._examples(examples)})'
                              for kind, examples in self._dropped.items())
            print_log(f'{self.ann_file}: {total} annotations left out: {kinds}. '
                      "annotation_check='strict' makes this an error.", 'current', logging.WARNING)
        return data_list

    @staticmethod
    def _examples(examples: List[Tuple[int, str]]) -> str:
        shown = ', '.join(f'annotation {ann_id} of {file_name}'
                          for ann_id, file_name in examples[:NUM_EXAMPLES])
        more = len(examples) - NUM_EXAMPLES
        return 'e.g. ' + shown + (f' and {more} more' if more > 0 else '')

    def _check_file(self) -> None:
        """Duplicate image ids, and metainfo classes that the file does not have."""
        images = self.coco.dataset.get('images', [])
        counts = Counter(image['id'] for image in images)
        duplicates = [image_id for image_id, count in counts.items() if count > 1]
        if duplicates:
            names = [image['file_name'] for image in images if image['id'] == duplicates[0]]
            raise ValueError(
                f'{self.ann_file}: {len(duplicates)} image ids are shared by several images, '
                f'e.g. id {duplicates[0]} by {names}; pycocotools keeps one of them and gives it '
                'the annotations of all, so every image needs an id of its own')
        names = {category['name'] for category in self.coco.dataset.get('categories', [])}
        missing = [name for name in self.metainfo['classes'] if name not in names]
        if missing:
            raise ValueError(
                f'{self.ann_file}: the metainfo classes {missing} are not among the categories '
                f'of the file ({sorted(names)}); their instances would be silently left out. '
                'Copy the class names from the file.')
        self._category_ids = {category['id'] for category in self.coco.dataset['categories']}

    def _problem(self, ann: dict) -> str:
        """The kind of problem of one annotation ('' when there is none); cleans its polygons."""
        if ann.get('category_id') not in self._category_ids:
            return 'unknown_category'
        box = ann.get('bbox')
        if (not isinstance(box, (list, tuple)) or len(box) != 4
                or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in box)):
            return 'bad_box'
        if box[2] <= 0 or box[3] <= 0:
            return 'empty_box'
        segmentation = ann.get('segmentation')
        if not self.check_masks:
            return ''
        if not segmentation:
            return 'empty_segmentation'
        if isinstance(segmentation, list):
            polygons = [polygon for polygon in segmentation
                        if len(polygon) >= 6 and len(polygon) % 2 == 0]
            if not polygons:
                return 'short_polygon'
            ann['segmentation'] = polygons
        return ''

    def parse_data_info(self, raw_data_info: dict) -> dict:
        """mmdet's parsing of one image, after its annotations are checked."""
        if not self._file_checked:
            self._check_file()
            self._file_checked = True
        img_info = raw_data_info['raw_img_info']
        kept = []
        for ann in raw_data_info['raw_ann_info']:
            kind = '' if ann.get('ignore', False) else self._problem(ann)
            if not kind:
                kept.append(ann)
                continue
            where = f'annotation {ann.get("id")} of image {img_info["file_name"]}'
            if self.annotation_check == 'strict' or (self.test_mode
                                                     and kind in CRASHES_EVALUATION):
                consequence = (' (the COCO evaluator, which reads this file, would fail on it '
                               'at the end of the run)' if self.test_mode else '')
                raise ValueError(f'{self.ann_file}: {where} has {PROBLEMS[kind]}{consequence}; '
                                 'fix or remove it')
            self._dropped[kind].append((ann.get('id'), img_info['file_name']))
        raw_data_info['raw_ann_info'] = kept
        return super().parse_data_info(raw_data_info)

    def filter_data(self) -> List[dict]:
        """mmdet's filter, and a clear error when it leaves no image."""
        data_list = super().filter_data()
        if data_list:
            return data_list
        total = len(self.data_list)
        if not total:
            raise ValueError(f'{self.ann_file} has no images')
        filter_cfg = self.filter_cfg or {}
        min_size = filter_cfg.get('min_size', 0)
        small = sum(min(info['width'], info['height']) < min_size for info in self.data_list)
        empty = sum(not any(not instance['ignore_flag'] for instance in info['instances'])
                    for info in self.data_list)
        raise ValueError(
            f'no image of {self.ann_file} is left for training: of its {total} images {small} '
            f'are below filter_cfg.min_size={min_size} (shorter side in the file\'s width/height) '
            f'and {empty} have no instance of the classes {tuple(self.metainfo["classes"])}'
            + (' (filter_empty_gt=True)' if filter_cfg.get('filter_empty_gt') else ''))
