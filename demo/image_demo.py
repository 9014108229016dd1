"""Run a trained CenterMask (or any mmdet model) on images and save the pictures.

Example::

    python demo/image_demo.py data/centermask_demo/val/100000.jpg \\
        configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py \\
        work_dirs/centermask_demo/iter_360.pth --out-dir outputs

A thin wrapper over mmdet's ``DetInferencer``: the config's ``custom_imports`` registers our models
and the class names come from the checkpoint's ``dataset_meta``. ``--pred-score-thr`` below the
model's own score thresholds (``model.test_cfg.bbox.score_thr`` = 0.05 for CenterMask) lowers
those too, so that low-score detections exist to be drawn; ``--cfg-options`` changes any other
setting.
"""
from argparse import ArgumentParser, Namespace
from pathlib import Path
from typing import Any, List, Tuple

import mmcv
from mmengine.config import Config, DictAction
from mmengine.fileio import list_dir_or_file

# registers the models even for configs without custom_imports
import mmdet_centermask  # noqa: F401 (registers our models)
import mmdet_centermask.compat  # noqa: F401 (the fixes this stack needs)
from mmdet.apis import DetInferencer
from mmdet.apis.det_inferencer import IMG_EXTENSIONS


def add_model_arguments(parser: ArgumentParser) -> None:
    """The arguments this demo and ``video_demo.py`` share: the model and how it predicts."""
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument('--pred-score-thr', type=float, default=0.5,
                        help='lowest score drawn (CenterMask scores are sqrt(cls * centerness))')
    parser.add_argument('--palette', default='none',
                        choices=['coco', 'voc', 'citys', 'random', 'none'])
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. model.test_cfg.bbox.max_per_img=100')


def parse_args():
    parser = ArgumentParser(description='Predict and draw instance masks on images')
    parser.add_argument('inputs', help='an image file or a folder of images')
    add_model_arguments(parser)
    parser.add_argument('--out-dir', default='outputs', help='where the pictures (vis/) and, with '
                        '--save-pred, the predictions (preds/) go')
    parser.add_argument('--batch-size', type=int, default=1)
    parser.add_argument('--save-pred', action='store_true',
                        help='also write the predictions as json')
    return parser.parse_args()


def lower_score_thresholds(test_cfg: Any, score_thr: float,
                           path: str = 'model.test_cfg') -> List[str]:
    """Lower every ``score_thr`` of a model's ``test_cfg`` (nested: CenterMask's ``bbox``, a
    two-stage model's ``rcnn``) that is above ``score_thr`` to it; returns the lowered keys."""
    lowered = []
    if isinstance(test_cfg, dict):
        for key, value in test_cfg.items():
            if key == 'score_thr' and isinstance(value, (int, float)) and value > score_thr:
                test_cfg[key] = score_thr
                lowered.append(f'{path}.{key}: {value} -> {score_thr}')
            else:
                lowered += lower_score_thresholds(value, score_thr, f'{path}.{key}')
    return lowered


def load_config(config: str, score_thr: float, cfg_options: dict = None) -> Config:
    """The config with ``--cfg-options`` merged and the model's thresholds lowered."""
    cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    for line in lower_score_thresholds(cfg.model.get('test_cfg'), score_thr):
        print(f'lowered {line} (--pred-score-thr)')
    return cfg


def build_inferencer(args: Namespace, show_progress: bool) -> DetInferencer:
    """mmdet's ``DetInferencer`` for the arguments of :func:`add_model_arguments`."""
    cfg = load_config(args.config, args.pred_score_thr, args.cfg_options)
    return DetInferencer(model=cfg, weights=args.checkpoint, device=args.device,
                         palette=args.palette, show_progress=show_progress)


def unreadable_reason(path: Path) -> str:
    """Why an image file cannot be decoded, or '' when it can."""
    data = path.read_bytes()
    if not data:
        return 'empty file'
    try:
        image = mmcv.imfrombytes(data)
    except Exception as error:  # every decoder failure means the same here: skip the file
        return f'{type(error).__name__}: {error}'
    return '' if image is not None else 'not a decodable image'


def readable_images(inputs: str) -> Tuple[List[str], List[str]]:
    """The image files of ``inputs`` (a file, or a folder listed as ``DetInferencer`` lists it)
    that decode, and a ``path (reason)`` line for each that does not; a corrupt image in a folder
    is skipped so that the others are still drawn."""
    source = Path(inputs)
    if not source.exists():
        raise FileNotFoundError(f'input not found: {inputs}')
    if source.is_dir():
        paths = sorted(source / name for name in list_dir_or_file(
            source, list_dir=False, suffix=IMG_EXTENSIONS, recursive=False))
        if not paths:
            raise FileNotFoundError(f'no image files ({", ".join(IMG_EXTENSIONS)}) in {inputs}')
    else:
        paths = [source]
    readable, skipped = [], []
    for path in paths:
        reason = unreadable_reason(path)
        if reason:
            skipped.append(f'{path} ({reason})')
        else:
            readable.append(str(path))
    if not readable:
        raise ValueError(f'no readable image in {inputs}: ' + '; '.join(skipped))
    return readable, skipped


def main():
    args = parse_args()
    images, skipped = readable_images(args.inputs)
    if skipped:
        print(f'skipped {len(skipped)} unreadable image(s): ' + '; '.join(skipped))
    inferencer = build_inferencer(args, show_progress=True)
    inferencer(images, batch_size=args.batch_size, out_dir=args.out_dir,
               pred_score_thr=args.pred_score_thr, no_save_pred=not args.save_pred)
    print(f'pictures written to {Path(args.out_dir) / "vis"}')


if __name__ == '__main__':
    main()
