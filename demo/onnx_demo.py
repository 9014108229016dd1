"""Run an exported CenterMask (tools/deployment/export_onnx.py) with onnxruntime or OpenVINO on
images and draw its predictions, without PyTorch weights.

Example::

    python demo/onnx_demo.py data/centermask_demo/val/100000.jpg \\
        configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py model.onnx --out-dir out
"""
from argparse import ArgumentParser
from pathlib import Path

import mmcv
from mmengine.config import Config

import mmdet_centermask  # noqa: F401 (registers our models)
import mmdet_centermask.compat  # noqa: F401 (the fixes this stack needs)
from mmdet.visualization import DetLocalVisualizer
from mmdet_centermask.deployment import PRECISION_CHOICES, ExportedCenterMask


def parse_args():
    parser = ArgumentParser(description='Predict with an exported CenterMask and draw it')
    parser.add_argument('inputs', help='an image file or a folder of images')
    parser.add_argument('config', help='the config the model was exported from')
    parser.add_argument('onnx', help='the exported .onnx file')
    parser.add_argument('--out-dir', default='outputs', help='where the pictures go')
    parser.add_argument('--pred-score-thr', type=float, default=0.5, help='lowest score drawn')
    parser.add_argument('--backend', choices=['onnxruntime', 'openvino'], default='onnxruntime')
    parser.add_argument('--precision', choices=PRECISION_CHOICES, default='fp32',
                        help='bf16: OpenVINO only; int8: the .xml of '
                        'tools/deployment/quantize_openvino.py')
    parser.add_argument('--threads', type=int, default=None, help='threads of the backend')
    return parser.parse_args()


def main():
    args = parse_args()
    inputs = Path(args.inputs)
    if not inputs.exists():
        raise FileNotFoundError(f'input not found: {inputs}')
    images = sorted(p for p in inputs.iterdir() if p.suffix.lower() in ('.jpg', '.jpeg', '.png')) \
        if inputs.is_dir() else [inputs]
    cfg = Config.fromfile(args.config)
    runtime = ExportedCenterMask(args.onnx, cfg, args.backend, args.precision, args.threads)
    visualizer = DetLocalVisualizer()
    visualizer.dataset_meta = dict(cfg.get('metainfo', None) or
                                   cfg.test_dataloader.dataset.get('metainfo', {}))
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for image in images:
        sample, = runtime([str(image)])
        visualizer.add_datasample(
            image.name, mmcv.imread(str(image), channel_order='rgb'), sample, draw_gt=False,
            pred_score_thr=args.pred_score_thr, out_file=str(out_dir / image.name))
        print(f'{image}: {len(sample.pred_instances)} detections, '
              f'{int((sample.pred_instances.scores >= args.pred_score_thr).sum())} drawn')
    print(f'pictures written to {out_dir}')


if __name__ == '__main__':
    main()
