"""``mmdet_centermask.serving.answer``: one image's answer, with class names and the original
size; a Panoptic-CenterMask's with its panoptic segments (a hand-made map, and a real model's
prediction of a photograph)."""
import json

import mmcv
import numpy as np
import pycocotools.mask as mask_util
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.structures import InstanceData, PixelData

from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.structures import DetDataSample
from mmdet_centermask.apis import build_predictor
from mmdet_centermask.serving import image_answer
from mmdet_centermask.testing import CONFIG_DIR, load_config, save_initialised_checkpoint
from mmdet_centermask.utils import image_test_pipeline

PANOPTIC_DEMO = 'panoptic_centermask/demo/panoptic-centermask-lite_v2-19-slim-dw_fpn_demo.py'


def test_answer_names_the_classes_and_keeps_rle_masks():
    bitmap = torch.zeros(30, 40, dtype=torch.bool)
    bitmap[5:12, 3:20] = True
    sample = DetDataSample(metainfo=dict(ori_shape=(30, 40)))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[3., 5., 20., 12.], [0., 0., 4., 4.]]),
        scores=torch.tensor([0.75, 0.5]), labels=torch.tensor([2, 0]),
        mask_scores=torch.tensor([0.5, 0.25]),
        masks=[mask_util.encode(bitmap.numpy().astype('uint8', order='F'))] * 2)
    answer = image_answer(sample, ('cat', 'dog', 'horse'))
    assert json.loads(json.dumps(answer)) == answer
    assert (answer['height'], answer['width']) == (30, 40)
    assert answer['classes'] == ['horse', 'cat'] and answer['labels'] == [2, 0]
    assert answer['scores'] == [0.75, 0.5] and answer['mask_scores'] == [0.5, 0.25]
    assert (mask_util.decode(answer['masks'])[..., 0] == bitmap.numpy()).all()
    assert 'img_id' not in answer


def test_panoptic_segments_name_each_value_of_the_map_but_void():
    """classes: 2 things (cat, dog), 2 stuff (grass, sky); void is 4. The map: grass on the left,
    the 1st thing instance (a dog) and the 2nd (a cat) on the right, void in a corner."""
    classes = ('cat', 'dog', 'grass', 'sky')
    sem_seg = np.full((6, 8), 2)
    sem_seg[:3, 4:] = 1 + 1 * INSTANCE_OFFSET
    sem_seg[3:, 4:7] = 0 + 2 * INSTANCE_OFFSET
    sem_seg[3:, 7] = 4
    bitmap = torch.from_numpy(sem_seg == 1 + INSTANCE_OFFSET)
    sample = DetDataSample(metainfo=dict(ori_shape=(6, 8)))
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[4., 0., 8., 3.]]), scores=torch.tensor([0.9]),
        labels=torch.tensor([1]), mask_scores=torch.tensor([0.8]), masks=bitmap[None])
    sample.pred_panoptic_seg = PixelData(sem_seg=torch.from_numpy(sem_seg)[None])
    answer = image_answer(sample, classes)
    assert json.loads(json.dumps(answer)) == answer
    segments = answer['panoptic_segments']
    assert [(s['id'], s['category'], s['isthing'], s['area']) for s in segments] == [
        (2, 'grass', False, 24), (1001, 'dog', True, 12), (2000, 'cat', True, 9)]
    for segment in segments:
        assert (mask_util.decode(segment['mask']) == (sem_seg == segment['id'])).all()
    # the instance masks, bitmaps from a Panoptic-CenterMask, are encoded too
    assert (mask_util.decode(answer['masks'])[..., 0] == bitmap.numpy()).all()


@pytest.mark.slow  # a Panoptic-CenterMask built and run
def test_panoptic_centermask_answer_covers_the_image(tmp_path, coco45):
    cfg = load_config(PANOPTIC_DEMO)
    checkpoint = save_initialised_checkpoint(CONFIG_DIR / PANOPTIC_DEMO, tmp_path / 'init.pth')
    with pytest.raises(ValueError, match="backend='onnxruntime': a Panoptic-CenterMask runs "
                                         'with PyTorch'):
        build_predictor(cfg, str(checkpoint), 'onnxruntime', panoptic=True)
    predict, classes = build_predictor(cfg, str(checkpoint), panoptic=True)
    pipeline = Compose(image_test_pipeline(cfg))
    image = str(coco45 / 'images' / '000000000073.jpg')
    answer = image_answer(predict(pipeline(dict(img_path=image, img_id=0))), classes)
    height, width = answer['height'], answer['width']
    assert (height, width) == mmcv.imread(image).shape[:2]
    covered = np.zeros((height, width), bool)
    for segment in answer['panoptic_segments']:
        mask = mask_util.decode(segment['mask']).astype(bool)
        assert mask.sum() == segment['area'] and not (covered & mask).any()
        covered |= mask
        assert segment['category'] in classes
    assert covered.any()
