"""``mmdet_centermask.apis.image_source``: the images of a folder, a list or a COCO json with
their ids, and the test pipeline that reads them (an unreadable one named, not raised)."""
import json

import cv2
import numpy as np
import pytest
from mmengine.registry import init_default_scope

from mmdet_centermask.apis import ImageSource, PipelineImages
from mmdet_centermask.testing import load_config


def write_images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(folder / name), np.full((40, 60, 3), 100, np.uint8))


def test_folder_images_sorted_with_ids_from_one(tmp_path):
    write_images(tmp_path, ['b.png', 'a.jpg'])
    (tmp_path / 'notes.txt').write_text('not an image')
    assert ImageSource(str(tmp_path)).images == [(1, str(tmp_path / 'a.jpg')),
                                                 (2, str(tmp_path / 'b.png'))]


def test_list_paths_relative_to_the_list(tmp_path):
    write_images(tmp_path / 'imgs', ['x.jpg'])
    (tmp_path / 'list.txt').write_text('imgs/x.jpg\n\n/abs/y.jpg\n')
    source = ImageSource(str(tmp_path / 'list.txt'))
    assert source.images == [(1, str(tmp_path / 'imgs' / 'x.jpg')), (2, '/abs/y.jpg')]
    assert source.ann_file is None and source.categories(('a', 'b')) == [1, 2]


def test_coco_json_keeps_its_ids_and_categories(tmp_path):
    coco = dict(images=[dict(id=42, file_name='x.jpg', width=60, height=40)],
                annotations=[dict(id=1, image_id=42, category_id=7, bbox=[1, 1, 5, 5], area=25,
                                  iscrowd=0)],
                categories=[dict(id=3, name='square'), dict(id=7, name='bar')])
    (tmp_path / 'val.json').write_text(json.dumps(coco))
    source = ImageSource(str(tmp_path / 'val.json'), img_dir='/data/imgs')
    assert source.images == [(42, '/data/imgs/x.jpg')]
    assert source.ann_file == str(tmp_path / 'val.json')
    assert source.categories(('square', 'bar')) == [3, 7]
    with pytest.raises(ValueError, match="are not the model's 3 classes"):
        source.categories(('square', 'bar', 'disc'))


@pytest.mark.parametrize('inputs,message', [('x.csv', 'is not a folder, a .txt list'),
                                            ('empty', 'holds no images')])
def test_bad_inputs_are_named(tmp_path, inputs, message):
    (tmp_path / 'empty').mkdir()
    (tmp_path / 'x.csv').write_text('')
    with pytest.raises(ValueError, match=message):
        ImageSource(str(tmp_path / inputs))


def test_pipeline_prepares_an_image_and_names_an_unreadable_one(tmp_path):
    write_images(tmp_path, ['good.jpg'])
    (tmp_path / 'broken.jpg').write_bytes(b'\xff\xd8 not a jpeg')
    cfg = load_config('centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py')
    init_default_scope('mmdet')
    images = PipelineImages([(1, str(tmp_path / 'good.jpg')), (2, str(tmp_path / 'broken.jpg'))],
                            cfg)
    img_id, data = images[0]
    assert img_id == 1 and data['data_samples'].ori_shape == (40, 60)
    assert data['inputs'].shape[0] == 3
    img_id, reason = images[1]
    assert img_id == 2 and reason.startswith(f'{tmp_path / "broken.jpg"}: ')


def test_dataset_config_gives_its_coco_images_through_wrappers(tmp_path):
    coco = dict(images=[dict(id=5, file_name='x.jpg', width=60, height=40)], annotations=[],
                categories=[dict(id=1, name='a')])
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'annotations' / 'train.json').write_text(json.dumps(coco))
    dataset = dict(type='RepeatDataset', times=2,
                   dataset=dict(type='CocoDataset', data_root=str(tmp_path),
                                ann_file='annotations/train.json', data_prefix=dict(img='imgs/')))
    assert ImageSource.of_dataset(dataset).images == [(5, str(tmp_path / 'imgs' / 'x.jpg'))]
