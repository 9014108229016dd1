"""Export a trained CenterMask to ONNX (one graph of standard operators, run by plain onnxruntime).

Example::

    python tools/deployment/export_onnx.py \\
        configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py \\
        work_dirs/centermask_demo/iter_360.pth --out work_dirs/centermask_demo/model.onnx --dynamic

The graph takes the image as the config's test pipeline and data preprocessor make it (resized,
normalised, padded to a multiple of 32) and its unpadded size, and gives the ``max_per_img`` best
detections (boxes, scores, labels, 28x28 mask logits, mask scores; score 0 where there is none).
``mmdet_centermask.deployment.ExportedCenterMask`` runs it and pastes the masks
(``demo/onnx_demo.py``, ``tools/deployment/test_onnx.py``). Without ``--dynamic`` the graph takes
``--input-size`` only. DCN configs cannot be exported (no standard ONNX operator). A
Panoptic-CenterMask exports its instance branch.
"""
import argparse
import time

import mmdet_centermask  # noqa: F401 (registers our models)
import mmdet_centermask.compat  # noqa: F401 (the fixes this stack needs)
from mmdet.apis import init_detector
from mmdet_centermask.deployment import export_onnx


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Export a CenterMask to ONNX')
    parser.add_argument('config', help='model config')
    parser.add_argument('checkpoint', help='trained checkpoint')
    parser.add_argument('--out', required=True, help='the .onnx file to write')
    parser.add_argument('--input-size', type=int, nargs=2, default=None, metavar=('H', 'W'),
                        help='padded input size (default: the test pipeline\'s scale, rounded '
                        'up to a multiple of 32)')
    parser.add_argument('--dynamic', action='store_true',
                        help='any input size (multiples of 32 from 64 to 4096)')
    return parser.parse_args()


def test_scale(cfg) -> tuple:
    """``(h, w)`` of the test pipeline's resize scale (``(w, h)`` in mmdet)."""
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'] == 'Resize':
            return tuple(step['scale'][::-1])
    raise ValueError('no Resize step in the test pipeline: pass --input-size H W')


def main() -> None:
    args = parse_args()
    model = init_detector(args.config, args.checkpoint, device='cpu')
    input_size = args.input_size or test_scale(model.cfg)
    start = time.time()
    export_onnx(model, args.out, input_size=input_size, dynamic=args.dynamic)
    sizes = 'dynamic sizes' if args.dynamic else 'input %dx%d' % tuple(input_size)
    print(f'wrote {args.out} ({sizes}) in {time.time() - start:.0f} s')


if __name__ == '__main__':
    main()
