"""``mmdet_centermask.serving.answer``: one image's answer, with class names and the original
size."""
import json

import pycocotools.mask as mask_util
import torch
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from mmdet_centermask.serving import image_answer


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
