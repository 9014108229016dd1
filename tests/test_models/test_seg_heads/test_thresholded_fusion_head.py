"""ThresholdedHeuristicFusionHead on a hand-made 8x8 case: detectron2's combine rule (instances
above the score threshold by descending score, overlap skip, stuff area limit, things-channel
leftovers void), where mmdet's HeuristicFusionHead also lays the low-scoring instance."""

import torch
from mmengine.config import ConfigDict
from mmengine.structures import InstanceData

from mmdet.evaluation.functional import INSTANCE_OFFSET
from mmdet.registry import MODELS

OFFSET = INSTANCE_OFFSET
VOID = 4  # 2 things (0, 1) + 2 stuff (2, 3)
TEST_CFG = ConfigDict(instance_score_thr=0.5, mask_overlap=0.5, stuff_area_limit=10)


def box_mask(rows: slice, cols: slice) -> torch.Tensor:
    mask = torch.zeros(8, 8, dtype=torch.bool)
    mask[rows, cols] = True
    return mask


def inputs():
    # semantic argmax: stuff 2 on the left, stuff 3 (8 pixels) top right, things channel below it
    seg = torch.zeros(3, 8, 8)
    seg[0, :, :4] = 1
    seg[1, :2, 4:] = 1
    seg[2, 2:, 4:] = 1
    instances = InstanceData(
        bboxes=torch.zeros(4, 4),
        scores=torch.tensor([0.7, 0.9, 0.4, 0.6]),
        labels=torch.tensor([1, 0, 1, 0]),
        masks=torch.stack([
            box_mask(slice(2, 6), slice(2, 6)),  # B: 4 of its 16 pixels under A
            box_mask(slice(0, 4), slice(0, 4)),  # A: the best
            box_mask(slice(6, 8), slice(6, 8)),  # D: below the score threshold
            box_mask(slice(0, 4), slice(0, 3)),  # C: all under A, skipped
        ]))
    return instances, seg


def expected_map() -> torch.Tensor:
    pan = torch.full((8, 8), VOID)  # things-channel leftovers and stuff 3 (8 < 10 pixels): void
    pan[:, :4] = 2
    pan[2:6, 2:6] = 1 + 2 * OFFSET
    pan[:4, :4] = 0 + 1 * OFFSET
    return pan


def build(type_name: str):
    return MODELS.build(dict(type=type_name, num_things_classes=2, num_stuff_classes=2,
                             test_cfg=TEST_CFG))


def test_fusion_follows_detectron2():
    instances, seg = inputs()
    pan = build('ThresholdedHeuristicFusionHead').predict([instances], [seg])[0].sem_seg[0]
    torch.testing.assert_close(pan, expected_map().int(), rtol=0, atol=0)


def test_mmdet_head_lays_the_low_scoring_instance():
    instances, seg = inputs()
    pan = build('HeuristicFusionHead').predict([instances], [seg])[0].sem_seg[0]
    assert (pan[6:, 6:] == 1 + 3 * OFFSET).all()


def test_no_instance_above_the_threshold_gives_stuff_only():
    instances, seg = inputs()
    instances.scores[:] = 0.3
    pan = build('ThresholdedHeuristicFusionHead').predict([instances], [seg])[0].sem_seg[0]
    expected = torch.full((8, 8), VOID)
    expected[:, :4] = 2
    torch.testing.assert_close(pan, expected.int(), rtol=0, atol=0)
