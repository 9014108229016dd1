"""CheckedCocoDataset names what mmdet's CocoDataset gets silently wrong in an annotation file.

Each case is shown on mmdet's own dataset first (what happened before), then on ours; the files
are small generated COCO jsons (no images are read), and coco45's real file must pass unchanged.
"""
import json
import logging
from pathlib import Path
from typing import List, Optional
from unittest import mock

import numpy as np
import pycocotools.mask as mask_utils
import pytest

from mmdet.registry import DATASETS

CLASSES = ('cat', 'dog')


def box_ann(ann_id: int, image_id: int, bbox: list, category_id: int = 1,
            segmentation: Optional[list] = None) -> dict:
    x, y, w, h = bbox
    polygon = [[x, y, x + w, y, x + w, y + h, x, y + h]]
    return dict(id=ann_id, image_id=image_id, category_id=category_id, bbox=bbox, area=40,
                iscrowd=0, segmentation=polygon if segmentation is None else segmentation)


def write(path: Path, annotations: List[dict], image_ids=(1, 2), size: int = 64) -> str:
    images = [dict(id=image_id, file_name=f'{index}.jpg', width=size, height=size)
              for index, image_id in enumerate(image_ids)]
    categories = [dict(id=i + 1, name=name) for i, name in enumerate(CLASSES)]
    path.write_text(json.dumps(dict(images=images, annotations=annotations,
                                    categories=categories)))
    return str(path)


def build(ann_file: str, type: str = 'CheckedCocoDataset', classes=CLASSES, **kwargs):
    kwargs.setdefault('filter_cfg', dict(filter_empty_gt=False))
    if classes is not None:
        kwargs['metainfo'] = dict(classes=classes)
    return DATASETS.build(dict(type=type, ann_file=ann_file, data_prefix=dict(img=''),
                               pipeline=[], **kwargs))


def boxes_by_file(dataset) -> dict:
    return {Path(info['img_path']).name: [i['bbox'] for i in info['instances']]
            for info in (dataset.get_data_info(i) for i in range(len(dataset)))}


def test_duplicate_image_ids_are_an_error_naming_the_images(tmp_path):
    ann_file = write(tmp_path / 'dup.json', [box_ann(1, 1, [1, 1, 10, 10]),
                                             box_ann(2, 2, [20, 20, 30, 30])], image_ids=(1, 1))
    # mmdet (pycocotools): one image left, the second, with the first one's boxes
    assert boxes_by_file(build(ann_file, type='CocoDataset')) == {'1.jpg': [[1, 1, 11, 11]]}
    with pytest.raises(ValueError, match=r"dup.json: 1 image ids are shared by several images, "
                                         r"e.g. id 1 by \['0.jpg', '1.jpg'\]"):
        build(ann_file)


def bad_annotations() -> List[dict]:
    """Image 1: one good instance and one of each problem; image 2: one good instance."""
    return [
        box_ann(1, 1, [1, 1, 10, 10]),
        box_ann(2, 1, [1, 1, 10, 10], category_id=7),
        box_ann(3, 1, [float('nan'), 1, 10, 10]),
        box_ann(4, 1, [5, 5, 0, 10]),
        box_ann(5, 1, [5, 5, 10, 10], segmentation=[]),
        box_ann(6, 1, [5, 5, 10, 10], segmentation=[[5, 5, 15, 15]]),
        # a 2-point polygon beside a valid one: only the valid one is kept
        box_ann(7, 1, [30, 30, 10, 10], segmentation=[[30, 30, 40, 40],
                                                      [30, 30, 40, 30, 40, 40]]),
        box_ann(8, 2, [20, 20, 30, 30]),
    ]


def test_bad_instances_are_dropped_with_one_warning_that_counts_them(tmp_path):
    ann_file = write(tmp_path / 'bad.json', bad_annotations())
    # mmdet: the unknown category, NaN and zero-width boxes dropped without a word, the masks
    # kept as they are (an instance without 'mask' stops training with KeyError: 'mask')
    upstream = build(ann_file, type='CocoDataset').get_data_info(0)['instances']
    assert len(upstream) == 4 and 'mask' not in upstream[1]
    assert upstream[2]['mask'] == [[5, 5, 15, 15]]
    with mock.patch('mmdet_centermask.datasets.checked_coco.print_log') as log:
        dataset = build(ann_file)
    (message, _, level), = [call.args for call in log.call_args_list]
    assert level == logging.WARNING
    assert message == (
        f'{ann_file}: 5 annotations left out: '
        "1 with a category_id that is not among the file's categories (e.g. annotation 2 of "
        '0.jpg); 1 with a bbox that is not 4 finite numbers (e.g. annotation 3 of 0.jpg); '
        '1 with a bbox of zero or negative width or height (e.g. annotation 4 of 0.jpg); '
        '1 with no segmentation (missing or []) (e.g. annotation 5 of 0.jpg); '
        '1 with polygons of fewer than 3 points only (e.g. annotation 6 of 0.jpg). '
        "annotation_check='strict' makes this an error.")
    instances = dataset.get_data_info(0)['instances']
    assert [i['bbox'] for i in instances] == [[1, 1, 11, 11], [30, 30, 40, 40]]
    assert instances[1]['mask'] == [[30, 30, 40, 30, 40, 40]]
    assert boxes_by_file(dataset)['1.jpg'] == [[20, 20, 50, 50]]


@pytest.mark.parametrize('ann_id, problem', [
    (2, "a category_id that is not among the file's categories"),
    (3, 'a bbox that is not 4 finite numbers'),
    (5, r'no segmentation \(missing or \[\]\)'),
])
def test_strict_mode_stops_at_the_first_bad_instance(tmp_path, ann_id, problem):
    good = [ann for ann in bad_annotations() if ann['id'] in (1, 8)]
    bad = next(ann for ann in bad_annotations() if ann['id'] == ann_id)
    ann_file = write(tmp_path / 'bad.json', good + [bad])
    with pytest.raises(ValueError, match=rf'bad.json: annotation {ann_id} of image 0.jpg has '
                                         rf'{problem}; fix or remove it'):
        build(ann_file, annotation_check='strict')
    with pytest.raises(ValueError, match="annotation_check must be 'warn' or 'strict'"):
        build(ann_file, annotation_check='ignore')


def test_masks_that_would_stop_the_evaluation_are_an_error_in_test_mode(tmp_path):
    # what ended the run at its final evaluation: pycocotools on a 2-point polygon
    with pytest.raises(TypeError, match="Argument 'bb' has incorrect type"):
        mask_utils.frPyObjects([[5., 5., 15., 15.]], 64, 64)
    good = [box_ann(1, 1, [1, 1, 10, 10])]
    ann_file = write(tmp_path / 'val.json', good + [bad_annotations()[5]])
    build(ann_file)  # training: dropped with a warning
    with pytest.raises(ValueError, match=r'annotation 6 of image 0.jpg has polygons of fewer '
                                         r'than 3 points only \(the COCO evaluator, which reads '
                                         r'this file, would fail on it at the end of the run\)'):
        build(ann_file, test_mode=True)
    assert build(ann_file, check_masks=False, test_mode=True).get_data_info(0)['instances']


def test_metainfo_classes_missing_from_the_file_are_an_error(tmp_path):
    ann_file = write(tmp_path / 'classes.json', [box_ann(1, 1, [1, 1, 10, 10])])
    assert len(build(ann_file, type='CocoDataset', classes=('cat', 'Dog')).cat_ids) == 1
    with pytest.raises(ValueError, match=r"the metainfo classes \['Dog'\] are not among the "
                                         r"categories of the file \(\['cat', 'dog'\]\)"):
        build(ann_file, classes=('cat', 'Dog'))


def test_a_filter_that_leaves_no_image_says_why(tmp_path):
    small = write(tmp_path / 'small.json', [box_ann(1, 1, [1, 1, 10, 10])], size=20)
    empty = write(tmp_path / 'empty.json', [])
    train_filter = dict(filter_empty_gt=True, min_size=32)
    for ann_file in (small, empty):
        with pytest.raises(ValueError, match='need at least one array to concatenate'):
            build(ann_file, type='CocoDataset', filter_cfg=train_filter)
    with pytest.raises(ValueError, match=r'no image of .*small.json is left for training: of its '
                                         r'2 images 2 are below filter_cfg.min_size=32 .* and 1 '
                                         r"have no instance of the classes \('cat', 'dog'\) "
                                         r'\(filter_empty_gt=True\)'):
        build(small, filter_cfg=train_filter)
    with pytest.raises(ValueError, match=r'of its 2 images 0 are below filter_cfg.min_size=32 .* '
                                         r'and 2 have no instance'):
        build(empty, filter_cfg=train_filter)


def test_truncated_annotation_file_is_an_error_naming_it(tmp_path):
    whole = Path(write(tmp_path / 'whole.json', bad_annotations()))
    truncated = tmp_path / 'truncated.json'
    truncated.write_text(whole.read_text()[:300])
    with pytest.raises(ValueError, match=r'annotation file .*truncated.json is not valid JSON '
                                         r'\(.*char \d+\)\): it may be truncated'):
        build(str(truncated))


def test_coco45_loads_as_mmdet_loads_it(coco45):
    ann_file = str(coco45 / 'instances.json')
    kwargs = dict(classes=None, filter_cfg=None)
    with mock.patch('mmdet_centermask.datasets.checked_coco.print_log') as log:
        ours = build(ann_file, **kwargs)
    theirs = build(ann_file, type='CocoDataset', **kwargs)
    assert not log.called and len(ours) == len(theirs) == 45
    assert [ours.get_data_info(i) for i in range(45)] == [theirs.get_data_info(i)
                                                          for i in range(45)]
    assert np.sum([len(ours.get_data_info(i)['instances']) for i in range(45)]) > 200
