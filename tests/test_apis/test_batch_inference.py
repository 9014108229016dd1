"""``mmdet_centermask.apis.batch_inference`` in-process (the tool end to end:
``tests/e2e/test_batch_inference.py``): which configs it runs and with what class names."""
from pathlib import Path

import mmdet
import pytest
from mmengine.config import Config

from mmdet_centermask.apis import config_classes, rle_config
from mmdet_centermask.testing import load_config

MMDET_CONFIGS = Path(mmdet.__file__).parent / '.mim' / 'configs'
DEMO = 'centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py'


def test_rle_config_changes_a_copy_only():
    cfg = load_config(DEMO)
    rle = rle_config(cfg)
    assert rle.model.test_cfg.rcnn.mask_format == 'rle'
    assert 'mask_format' not in cfg.model.test_cfg.rcnn
    assert rle.model.test_cfg.rcnn.mask_thr_binary == cfg.model.test_cfg.rcnn.mask_thr_binary


@pytest.mark.parametrize('config,name', [
    (MMDET_CONFIGS / 'mask_rcnn' / 'mask-rcnn_r50_fpn_1x_coco.py', 'MaskRCNN'),
    ('panoptic_centermask/panoptic-centermask_r50_fpn_ms-3x_coco.py', 'PanopticCenterMask'),
])
def test_other_models_are_refused_by_name(config, name):
    cfg = Config.fromfile(config) if isinstance(config, Path) else load_config(config)
    with pytest.raises(ValueError, match=f"model.type='{name}': batch inference runs CenterMask"):
        rle_config(cfg)


def test_class_names_of_the_config_else_of_its_dataset_type():
    cfg = load_config(DEMO)
    assert config_classes(cfg) == ('person', 'bottle', 'coin', 'horse', 'logo')
    coco = load_config('centermask/centermask_r50_fpn_1x_coco.py')
    classes = config_classes(coco)
    assert len(classes) == 80 and classes[0] == 'person' and classes[-1] == 'toothbrush'
