import math
from pathlib import Path

import pytest
import torch
import yaml
from mmengine.config import Config
from mmengine.registry import init_default_scope

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.testing import demo_mm_inputs

from mmdet_centermask.models import VoVNet

CONFIG_DIR = Path(__file__).resolve().parents[2] / 'configs' / 'vovnet'
# config -> (backbone arch, whether the model predicts masks)
CONFIGS = {
    'mask-rcnn_v2-39_fpn_1x_coco.py': ('V-39', True),
    'faster-rcnn_v2-19_fpn_1x_coco.py': ('V-19', False),
    'retinanet_v2-39_fpn_1x_coco.py': ('V-39', False),
    'fcos_v2-39_fpn_gn-head_1x_coco.py': ('V-39', False),
}


def test_every_config_is_tested():
    assert sorted(p.name for p in CONFIG_DIR.glob('*.py')) == sorted(CONFIGS)


@pytest.mark.slow  # a whole zoo model in-process
@pytest.mark.parametrize('config_name', sorted(CONFIGS))
def test_config_builds_trains_and_predicts(config_name):
    arch, with_mask = CONFIGS[config_name]
    cfg = Config.fromfile(CONFIG_DIR / config_name)
    assert cfg.default_scope == 'mmdet'
    backbone = cfg.model.backbone
    assert backbone.type == 'VoVNet' and backbone.arch == arch
    assert backbone.init_cfg.type == 'Pretrained'
    preprocessor = cfg.model.data_preprocessor
    assert preprocessor.mean == [103.53, 116.28, 123.675]
    assert preprocessor.std == [1.0, 1.0, 1.0]
    assert preprocessor.bgr_to_rgb is False
    assert cfg.model.neck.in_channels == [256, 512, 768, 1024]

    backbone.init_cfg = None  # no weights offline
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    assert isinstance(model.backbone, VoVNet)
    model.init_weights()

    packed = demo_mm_inputs(2, [[3, 128, 128], [3, 96, 160]], num_items=[2, 3], with_mask=with_mask)
    data = model.data_preprocessor(packed, True)
    model.train()
    losses = model(**data, mode='loss')
    total, log_vars = model.parse_losses(losses)
    assert torch.isfinite(total)
    assert all(math.isfinite(value) for value in log_vars.values()), log_vars
    if with_mask:
        assert 'loss_mask' in losses
    # frozen_stages=1: the stem and stage2 are fixed, stage3 on is trained
    assert not any(p.requires_grad for p in model.backbone.stage2.parameters())
    assert all(p.requires_grad for n, p in model.backbone.stage3.named_parameters()
               if '_norm.' not in n)  # BN may be frozen by norm_cfg

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(packed, False)
        results = model(**data, mode='predict')
    assert len(results) == 2
    assert all(isinstance(r, DetDataSample) for r in results)
    assert all('bboxes' in r.pred_instances for r in results)
    if with_mask:
        assert all('masks' in r.pred_instances for r in results)


def test_metafile_lists_every_config():
    metafile = yaml.safe_load((CONFIG_DIR / 'metafile.yml').read_text())
    assert sorted(Path(m['Config']).name for m in metafile['Models']) == sorted(CONFIGS)
    assert all(m['In Collection'] == 'VoVNet' for m in metafile['Models'])
    assert all((CONFIG_DIR.parents[1] / m['Config']).is_file() for m in metafile['Models'])
