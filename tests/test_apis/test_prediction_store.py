"""``mmdet_centermask.apis.prediction_store``: records of predictions, and a store that resumes
after a kill without losing or repeating an image."""
import json

import pycocotools.mask as mask_util
import pytest
import torch
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from mmdet_centermask.apis import PredictionStore, prediction_record


def sample_with(masks) -> DetDataSample:
    sample = DetDataSample()
    sample.pred_instances = InstanceData(
        bboxes=torch.tensor([[1.5, 2.0, 10.25, 8.0]]), scores=torch.tensor([0.7]),
        labels=torch.tensor([3]), mask_scores=torch.tensor([0.375]), masks=masks)
    return sample


def test_record_holds_the_detections_with_text_rle():
    bitmap = torch.zeros(1, 12, 16, dtype=torch.bool)
    bitmap[0, 2:8, 1:10] = True
    rles = [mask_util.encode(bitmap[0].numpy().astype('uint8', order='F'))]
    record = prediction_record(7, sample_with(rles))
    assert json.loads(json.dumps(record)) == record
    assert record['img_id'] == 7 and record['labels'] == [3]
    assert record['bboxes'] == [[1.5, 2.0, 10.25, 8.0]] and record['mask_scores'] == [0.375]
    assert isinstance(record['masks'][0]['counts'], str)
    decoded = mask_util.decode(dict(record['masks'][0], counts=record['masks'][0]['counts']))
    assert (decoded == bitmap[0].numpy()).all()


def test_bitmap_masks_are_refused_with_the_setting_that_avoids_them():
    with pytest.raises(ValueError, match="mask_format='rle'"):
        prediction_record(1, sample_with(torch.zeros(1, 4, 4, dtype=torch.bool)))


def test_store_resumes_and_drops_a_line_cut_by_a_kill(tmp_path):
    path = tmp_path / 'out' / 'predictions.jsonl'
    store = PredictionStore(path)
    store.add(dict(img_id=1, scores=[0.5]))
    store.add_error(2, 'broken.jpg: empty file')
    store.close()
    with path.open('a') as file:  # a kill in the middle of the third line
        file.write('{"img_id": 3, "sco')
    resumed = PredictionStore(path)
    assert resumed.done() == {1, 2}
    resumed.add(dict(img_id=3, scores=[0.25]))
    resumed.close()
    assert [r['img_id'] for r in resumed.records()] == [1, 3]
    assert resumed.errors() == {2: 'broken.jpg: empty file'}
    assert path.read_text().splitlines()[-1] == '{"img_id": 3, "scores": [0.25]}'
