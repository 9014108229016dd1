"""The graph the deployment tests share: the demo config's CenterMask-Lite with random weights
(``random_detector``), exported once for the session with dynamic sizes, the real photographs it
runs on, and its quantization by tools/deployment/quantize_openvino.py (started beside the export
tests, which take it as ``usefixtures``: it needs one core for about 12 s)."""
import sys
from pathlib import Path

import pytest
from mmdet_centermask.testing import REPO_ROOT, ToolRun, load_config, random_detector

from mmdet_centermask.deployment import export_onnx

CONFIG = 'centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py'


@pytest.fixture(scope='session')
def exported(tmp_path_factory):
    """``(model, cfg, onnx_file)``."""
    cfg = load_config(CONFIG)
    model = random_detector(cfg)
    onnx_file = str(tmp_path_factory.mktemp('onnx') / 'centermask.onnx')
    export_onnx(model, onnx_file, input_size=(288, 352), dynamic=True)
    return model, cfg, onnx_file


@pytest.fixture(scope='session')
def photographs(coco45: Path) -> list:
    """Three real COCO photographs of different aspect ratios (random weights amplify float32
    rounding on noise images; on photographs the parity bounds hold)."""
    return [str(coco45 / 'images' / name)
            for name in ('000000000042.jpg', '000000000073.jpg', '000000000074.jpg')]


@pytest.fixture(scope='session')
def quantize_run(exported, photographs, tmp_path_factory):
    """``(run, xml)``: the tool quantizing the graph, calibrated on the three photographs."""
    folder = tmp_path_factory.mktemp('int8')
    calib = folder / 'calib.txt'
    calib.write_text('\n'.join(photographs))
    xml = folder / 'centermask_int8.xml'
    run = ToolRun([sys.executable, str(REPO_ROOT / 'tools' / 'deployment' / 'quantize_openvino.py'),
                   str(REPO_ROOT / 'configs' / CONFIG), exported[2], '--out', str(xml),
                   '--calib', str(calib)], REPO_ROOT)
    return run, str(xml)
