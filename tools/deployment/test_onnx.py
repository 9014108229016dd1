"""Evaluate an exported CenterMask with onnxruntime or OpenVINO on the config's test dataset,
with the config's ``test_evaluator`` (mmdet's ``CocoMetric``: bbox and segm), as ``tools/test.py``
does for the PyTorch model. Of a Panoptic-CenterMask config the instance metrics are computed (the
graph is its instance branch). Images go one by one (batch 1): compare with ``tools/test.py
--cfg-options test_dataloader.batch_size=1``, as a larger batch pads images to the largest one.

Example::

    python tools/deployment/test_onnx.py \\
        configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py model.onnx
"""
import argparse

import mmdet_centermask  # noqa: F401 (registers our models)
import mmdet_centermask.compat  # noqa: F401 (the fixes this stack needs)
from mmengine.config import Config
from mmengine.evaluator import Evaluator
from mmengine.registry import init_default_scope
from mmengine.utils import ProgressBar

from mmdet.registry import DATASETS
from mmdet_centermask.deployment import PRECISION_CHOICES, ExportedCenterMask


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate an exported CenterMask')
    parser.add_argument('config', help='the config the model was exported from')
    parser.add_argument('onnx', help='the exported .onnx file')
    parser.add_argument('--backend', choices=['onnxruntime', 'openvino'], default='onnxruntime')
    parser.add_argument('--precision', choices=PRECISION_CHOICES, default='fp32',
                        help='bf16: OpenVINO only; int8: the .xml of '
                        'tools/deployment/quantize_openvino.py')
    parser.add_argument('--threads', type=int, default=None, help='threads of the backend')
    return parser.parse_args()


def evaluate(cfg: Config, onnx_file: str, backend: str = 'onnxruntime', precision: str = 'fp32',
             num_threads=None) -> dict:
    """Metrics of the exported model on ``cfg.test_dataloader.dataset``."""
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    runtime = ExportedCenterMask(onnx_file, cfg, backend, precision, num_threads)
    evaluators = cfg.test_evaluator if isinstance(cfg.test_evaluator, list) else [
        cfg.test_evaluator]
    # the graph is the instance branch: a Panoptic-CenterMask's PQ needs the PyTorch model
    evaluator = Evaluator([e for e in evaluators if e['type'] != 'CocoPanopticMetric'])
    evaluator.dataset_meta = dataset.metainfo
    progress = ProgressBar(len(dataset))
    for index in range(len(dataset)):
        sample = runtime.predict_sample(dataset[index])
        evaluator.process([sample])
        progress.update()
    return evaluator.evaluate(len(dataset))


def main() -> None:
    args = parse_args()
    metrics = evaluate(Config.fromfile(args.config), args.onnx, args.backend, args.precision,
                       args.threads)
    print('\n' + '\n'.join(f'{key}: {value:.4f}' for key, value in metrics.items()))


if __name__ == '__main__':
    main()
