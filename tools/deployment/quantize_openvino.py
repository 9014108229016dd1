"""Quantize an exported CenterMask to INT8 for OpenVINO's CPU plugin (NNCF post-training
quantization).

Example::

    python tools/deployment/quantize_openvino.py \\
        configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py \\
        work_dirs/centermask_demo/model.onnx --out work_dirs/centermask_demo/model_int8.xml

NNCF calibrates on the first ``--num-images`` (300, its default) of ``--calib`` (default: the
config's training images), each prepared by the config's test pipeline as at inference. The
network runs in int8; the box decoding, scoring, NMS and RoiAlign's boxes stay float32
(``mmdet_centermask.deployment.quantize``). The tool prints which layers run in int8 on this CPU.
Run the result with ``--backend openvino --precision int8`` (``tools/deployment/test_onnx.py``,
``demo/onnx_demo.py``, ``tools/batch_inference.py``, ``tools/deployment/serve.py``).
"""
import argparse
import time
from pathlib import Path

import mmdet_centermask  # noqa: F401 (registers our models)
import mmdet_centermask.compat  # noqa: F401 (the fixes this stack needs)
from mmengine.config import Config

from mmdet_centermask.apis import ImageSource, PipelineImages
from mmdet_centermask.deployment import ExportedCenterMask, quantize_openvino
from mmdet_centermask.deployment.quantize import calibration_transform, runtime_precision_table


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Quantize an exported CenterMask to INT8')
    parser.add_argument('config', help='the config the model was exported from')
    parser.add_argument('onnx', help='the exported .onnx file (dynamic or of the test size)')
    parser.add_argument('--out', required=True, help='the .xml to write (and its .bin)')
    parser.add_argument('--calib', default=None,
                        help='calibration images: a folder, a .txt list or a COCO json '
                        '(default: the config\'s training set)')
    parser.add_argument('--img-dir', default=None, help='folder of a COCO json\'s file names')
    parser.add_argument('--num-images', type=int, default=300, help='calibration images')
    parser.add_argument('--preset', choices=['mixed', 'performance'], default='mixed',
                        help='NNCF preset: mixed (asymmetric activations) or performance')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if not args.out.endswith('.xml'):
        raise SystemExit(f'--out {args.out}: expected an OpenVINO .xml file')
    cfg = Config.fromfile(args.config)
    runtime = ExportedCenterMask(args.onnx, cfg, 'openvino', 'fp32')  # also sets mmdet's scope
    source = (ImageSource(args.calib, args.img_dir) if args.calib else
              ImageSource.of_dataset(cfg.train_dataloader.dataset))
    images = PipelineImages(source.images[:args.num_images], cfg)
    start = time.time()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    quantize_openvino(args.onnx, images, calibration_transform(runtime), args.out, len(images),
                      args.preset)
    print(f'wrote {args.out}, calibrated on {len(images)} images, in '
          f'{time.time() - start:.0f} s\n')
    print(runtime_precision_table(args.out))


if __name__ == '__main__':
    main()
