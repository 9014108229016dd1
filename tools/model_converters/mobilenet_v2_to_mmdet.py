"""Convert centermask2's MobileNetV2 ImageNet weights to an mmdet backbone checkpoint.

Example::

    python tools/model_converters/mobilenet_v2_to_mmdet.py \
        mobilenet_v2_detectron2.pth checkpoints/mobilenet_v2_detectron2_mmdet.pth

The source is centermask2's ``mobilenet_v2_detectron2.pth`` (``features.{i}.conv.{j}`` keys,
bare, under ``"model"`` or with detectron2's ``backbone.bottom_up.`` prefix; BGR input, mean
subtraction only). The 1280-channel ``features.18`` and the ImageNet ``classifier``, if present,
are dropped: CenterMask-Lite-Mv2 has no use for them. The output holds bare backbone keys, for
``backbone=dict(type='CenterMaskMobileNetV2', init_cfg=dict(type='Pretrained', checkpoint=DST))``.
"""
import argparse
import sys
from typing import List, Optional

from mmdet_centermask.model_converters import (add_partial_arguments, convert_mobilenet_v2,
                                               load_source_state_dict, run_conversion)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description="Convert centermask2's MobileNetV2 ImageNet weights to an mmdet backbone "
        'checkpoint.')
    parser.add_argument('src', help='mobilenet_v2_detectron2.pth')
    parser.add_argument('dst', help='output backbone checkpoint')
    add_partial_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the conversion; returns the exit status."""
    args = parse_args(argv)
    conversion = run_conversion(lambda: convert_mobilenet_v2(load_source_state_dict(args.src)),
                                args.src, args.dst, args.allow_partial)
    return 0 if conversion is not None else 1


if __name__ == '__main__':
    sys.exit(main())
