"""COCO panoptic data through CheckedCocoPanopticDataset and CheckedLoadPanopticAnnotations: crowd
instances keep their masks (real COCO images), and bad annotations are clear errors."""

import json
from pathlib import Path

import numpy as np
import pytest
from mmdet_centermask.testing import (TINY_PANOPTIC_SQUARES, read_panoptic_ids, tiny_panoptic_dataset_cfg,
                     write_tiny_coco_panoptic)
from mmengine.registry import init_default_scope

from mmdet.registry import DATASETS

SAMPLE = Path(__file__).resolve().parents[3] / 'shared' / 'data' / 'coco_panoptic_sample'
PIPELINE = [
    dict(type='LoadImageFromFile'),
    dict(type='CheckedLoadPanopticAnnotations'),
    dict(type='PackDetInputs'),
]


def build(cfg: dict):
    init_default_scope('mmdet')
    return DATASETS.build(cfg)


def mask_box(mask: np.ndarray) -> list:
    ys, xs = np.nonzero(mask)
    return [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f'the real COCO panoptic sample is not at {SAMPLE}')
def test_real_coco_masks_line_up_with_their_boxes_and_crowds_are_dropped():
    """Image 439180: 13 persons and a crowd of persons, 2 trucks, 11 horses and a crowd of horses,
    4 stuff segments. The crowds are no instances (detectron2 drops iscrowd objects in training)
    but keep their thing label in the semantic map."""
    dataset = build(dict(
        type='CheckedCocoPanopticDataset',
        data_root=str(SAMPLE / 'sample_data'),
        ann_file='panoptic_examples.json',
        data_prefix=dict(img='input_images/', seg='panoptic_examples/'),
        pipeline=PIPELINE))
    index = [dataset.get_data_info(i)['img_id'] for i in range(len(dataset))].index(439180)
    sample = dataset[index]['data_samples']
    instances = sample.gt_instances
    assert len(instances) == len(instances.masks) == 26 and len(sample.ignored_instances) == 0
    for box, mask in zip(instances.bboxes.tensor.numpy(), instances.masks.masks):
        assert np.abs(np.array(mask_box(mask)) - box).max() <= 1
    categories = json.loads((SAMPLE / 'panoptic_coco_categories.json').read_text())
    label_of = {cat['id']: label for label, cat in enumerate(categories)}  # things first
    assert instances.labels.tolist() == [label_of[c] for c in [1] * 13 + [8] * 2 + [19] * 11]
    seg = sample.gt_sem_seg.sem_seg[0].numpy()
    annotation, = [a for a in json.loads((SAMPLE / 'sample_data' / 'panoptic_examples.json')
                                         .read_text())['annotations'] if a['image_id'] == 439180]
    ids = read_panoptic_ids(SAMPLE / 'sample_data' / 'panoptic_examples' / annotation['file_name'])
    for segment in annotation['segments_info']:
        assert (seg[ids == segment['id']] == label_of[segment['category_id']]).all()
    assert (seg[ids == 0] == 255).all()


@pytest.mark.skipif(not SAMPLE.is_dir(), reason=f'the real COCO panoptic sample is not at {SAMPLE}')
def test_separated_dataset_takes_instances_from_the_instances_json_and_seg_from_the_png():
    """centermask2's panoptic_separated data: the instances json's things (its stuff annotations
    are no instances; crowds are ignored instances) and the semantic map of the panoptic PNG,
    the same as CheckedCocoPanopticDataset's."""
    common = dict(data_root=str(SAMPLE / 'sample_data'),
                  data_prefix=dict(img='input_images/', seg='panoptic_examples/'))
    separated = build(dict(
        type='CocoPanopticSeparatedDataset', ann_file='panoptic_coco_detection_format.json',
        panoptic_ann_file='panoptic_examples.json', **common,
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadPolygonAnnotations', with_bbox=True, with_mask=True),
                  dict(type='CheckedLoadPanopticAnnotations', with_bbox=False, with_label=False,
                       with_mask=False, with_seg=True),
                  dict(type='PackDetInputs')]))
    panoptic = build(dict(type='CheckedCocoPanopticDataset', ann_file='panoptic_examples.json',
                          **common, pipeline=PIPELINE))
    for index, num_crowds in enumerate((1, 2)):
        ours, theirs = separated[index]['data_samples'], panoptic[index]['data_samples']
        assert ours.img_id == theirs.img_id
        assert (ours.gt_sem_seg.sem_seg == theirs.gt_sem_seg.sem_seg).all()
        assert ours.gt_instances.labels.tolist() == theirs.gt_instances.labels.tolist()
        assert (ours.gt_instances.labels < 80).all()
        assert len(ours.ignored_instances) == num_crowds
        assert len(ours.gt_instances.masks) == len(ours.gt_instances)


@pytest.mark.parametrize('case, message', [
    ('category', r"panoptic.json: category 9 \('ground'\) is not among the metainfo classes"),
    ('image', r'panoptic.json has no entry for image .*0003.jpg \(id 3\) of .*instances.json'),
    ('order', r'give these category ids other labels .*: \{7: \(0, 1\), 1: \(1, 0\)\}'),
])
def test_separated_dataset_names_files_that_disagree(tmp_path, case, message):
    coco = write_tiny_coco_panoptic(tmp_path)
    instances = dict(images=coco['images'], categories=coco['categories'][:1], annotations=[
        dict(id=1, image_id=1, category_id=1, bbox=[8, 8, 24, 24], area=576, iscrowd=0,
             segmentation=[[8, 8, 32, 8, 32, 32, 8, 32]])])
    cfg = tiny_panoptic_dataset_cfg(tmp_path, PIPELINE)
    cfg.update(type='CocoPanopticSeparatedDataset', ann_file='instances.json',
               panoptic_ann_file='panoptic.json')
    if case == 'category':
        cfg['metainfo'] = dict(classes=('square', 'sky'), thing_classes=('square', ),
                               stuff_classes=('sky', ))
    elif case == 'image':
        instances['images'] = instances['images'] + [dict(id=3, file_name='0003.jpg', width=64,
                                                          height=64)]
    else:  # the instances json lists a stuff category first
        instances['categories'] = [coco['categories'][1], coco['categories'][0]]
    (tmp_path / 'instances.json').write_text(json.dumps(instances))
    with pytest.raises(ValueError, match=message):
        build(cfg)


def test_tiny_dataset_labels_masks_and_semantic_map(tmp_path):
    write_tiny_coco_panoptic(tmp_path)
    dataset = build(tiny_panoptic_dataset_cfg(tmp_path, PIPELINE))
    sample = dataset[1]['data_samples']
    squares = TINY_PANOPTIC_SQUARES[1]
    assert sample.gt_instances.bboxes.tensor.tolist() == [[x, y, x + w, y + h]
                                                          for x, y, w, h in squares]
    seg = sample.gt_sem_seg.sem_seg[0].numpy()
    expected = np.full((64, 64), 1)
    expected[32:] = 2
    for (x, y, w, h), mask in zip(squares, sample.gt_instances.masks.masks):
        expected[y:y + h, x:x + w] = 0
        assert mask.sum() == w * h
    np.testing.assert_array_equal(seg, expected)


def test_image_without_stuff_is_things_and_void(tmp_path):
    write_tiny_coco_panoptic(tmp_path, stuff=False)
    seg = build(tiny_panoptic_dataset_cfg(tmp_path, PIPELINE))[0]['data_samples'].gt_sem_seg
    assert set(np.unique(seg.sem_seg.numpy()).tolist()) == {0, 255}


def test_png_id_not_in_segments_info_is_named(tmp_path):
    coco = write_tiny_coco_panoptic(tmp_path)
    coco['annotations'][0]['segments_info'] = [
        s for s in coco['annotations'][0]['segments_info'] if s['id'] != 102]
    (tmp_path / 'panoptic.json').write_text(json.dumps(coco))
    dataset = build(tiny_panoptic_dataset_cfg(tmp_path, PIPELINE))
    with pytest.raises(ValueError, match=r'0001\.png holds segment ids \[102\] that are in no '
                                         r'segments_info of image 1'):
        dataset[0]


def test_png_of_another_size_is_named(tmp_path):
    import cv2
    write_tiny_coco_panoptic(tmp_path)
    png = tmp_path / 'panoptic' / '0002.png'
    cv2.imwrite(str(png), cv2.imread(str(png))[:, :48])
    dataset = build(tiny_panoptic_dataset_cfg(tmp_path, PIPELINE))
    with pytest.raises(ValueError, match=r'0002\.png is 48x64 but its image .*0002\.jpg is 64x64'):
        dataset[1]


def test_category_missing_from_the_category_list_is_named(tmp_path):
    coco = write_tiny_coco_panoptic(tmp_path)
    coco['annotations'][1]['segments_info'][0]['category_id'] = 5
    (tmp_path / 'panoptic.json').write_text(json.dumps(coco))
    with pytest.raises(ValueError, match=r'segment 101 of image 0002\.jpg \(id 2\) has '
                                         r'category_id 5, which is not a category'):
        build(tiny_panoptic_dataset_cfg(tmp_path, PIPELINE))


@pytest.mark.parametrize('metainfo, message', [
    (dict(classes=('square', 'sky', 'ground', 'water'), thing_classes=('square', ),
          stuff_classes=('sky', 'ground', 'water')), r"classes \['water'\] are not among"),
    (dict(classes=('sky', 'square', 'ground'), thing_classes=('square', ),
          stuff_classes=('sky', 'ground')), r"classes \['sky', 'square'\] are not in place"),
    (dict(classes=('square', 'sky', 'ground'), thing_classes=('square', ),
          stuff_classes=('sky', )), r'3 classes but 1 thing_classes \+ 1 stuff_classes'),
])
def test_metainfo_that_disagrees_with_the_categories_is_named(tmp_path, metainfo, message):
    write_tiny_coco_panoptic(tmp_path)
    cfg = tiny_panoptic_dataset_cfg(tmp_path, PIPELINE)
    cfg['metainfo'] = metainfo
    with pytest.raises(ValueError, match=message):
        build(cfg)
