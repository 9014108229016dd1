"""Predict many images with a CenterMask: a folder, a .txt list of image paths or a COCO json, with
the PyTorch checkpoint or an exported graph (onnxruntime, OpenVINO). Resumable: run the same
command again after a kill, and the images already predicted are not predicted again.

Example::

    python tools/batch_inference.py \\
        configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py \\
        work_dirs/centermask_demo/iter_360.pth data/centermask_demo/annotations/val.json \\
        --out-dir work_dirs/batch

Writes ``OUT_DIR/predictions.jsonl`` (one line per image, as it is predicted: what a resumed run
continues), then ``OUT_DIR/results.bbox.json`` and ``results.segm.json`` (COCO results, masks as
RLE at the original size) and, for a COCO json with annotations, prints the COCO metrics.
``--draw`` also saves pictures in ``OUT_DIR/vis``. Unreadable images are skipped and named.
"""
import argparse
from pathlib import Path

import mmdet_centermask  # noqa: F401 (registers our models)
import mmdet_centermask.compat  # noqa: F401 (the fixes this stack needs)
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from mmdet_centermask.apis import (ImageSource, PredictionStore, build_predictor, coco_results,
                                   mask_drawer, predict_images)
from mmdet_centermask.deployment import PRECISION_CHOICES


def parse_args(args=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Predict a folder, a list or a COCO json')
    parser.add_argument('config', help='a CenterMask config')
    parser.add_argument('weights', help='checkpoint (.pth) or exported graph (.onnx)')
    parser.add_argument('inputs', help='a folder of images, a .txt list or a COCO .json')
    parser.add_argument('--img-dir', help="folder of a COCO json's file names (default: the "
                        "json's folder)")
    parser.add_argument('--out-dir', default='work_dirs/batch_inference')
    parser.add_argument('--backend', default='pytorch',
                        choices=['pytorch', 'onnxruntime', 'openvino'])
    parser.add_argument('--precision', default='fp32', choices=PRECISION_CHOICES,
                        help='bf16: OpenVINO only; int8: the .xml of '
                        'tools/deployment/quantize_openvino.py')
    parser.add_argument('--threads', type=int, default=None, help='threads of torch or backend')
    parser.add_argument('--device', default='cpu', help='device of the PyTorch model')
    parser.add_argument('--workers', type=int, default=1,
                        help='processes that read and resize images while the model runs')
    parser.add_argument('--draw', action='store_true', help='save pictures in OUT_DIR/vis')
    parser.add_argument('--pred-score-thr', type=float, default=0.3,
                        help='lowest score drawn (--draw)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings')
    return parser.parse_args(args)


def main(args: argparse.Namespace) -> dict:
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    source = ImageSource(args.inputs, args.img_dir)
    out_dir = Path(args.out_dir)
    store = PredictionStore(out_dir / 'predictions.jsonl')
    already = len(store.done())
    predictor, classes = build_predictor(cfg, args.weights, args.backend, args.precision,
                                         args.threads, args.device)
    draw = mask_drawer(classes, str(out_dir / 'vis'), args.pred_score_thr) if args.draw else None
    predicted = predict_images(predictor, source, cfg, store, args.workers, draw)
    store.close()
    print(f'\npredicted {predicted} image(s); {already} were already in {store.path}')
    errors = store.errors()
    if errors:
        print(f'skipped {len(errors)} unreadable image(s): ' + '; '.join(errors.values()))
    metrics = coco_results(store, source, classes, str(out_dir / 'results'))
    print(f'wrote {out_dir / "results"}.bbox.json and .segm.json')
    for name, value in metrics.items():
        print(f'{name}: {value:.4f}')
    return metrics


if __name__ == '__main__':
    main(parse_args())
