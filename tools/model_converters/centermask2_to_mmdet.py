"""Convert a centermask2 (detectron2) CenterMask or Panoptic-CenterMask checkpoint to an mmdet
checkpoint.

Example::

    python tools/model_converters/centermask2_to_mmdet.py \
        centermask2-V-39-eSE-FPN-ms-3x.pth checkpoints/centermask_v2-39_fpn_ms-3x_coco.pth \
        --config configs/centermask/centermask_v2-39_fpn_ms-3x_coco.py
    python tools/model_converters/centermask2_to_mmdet.py \
        panoptic_centermask_V_39_eSE_ms_3x.pth checkpoints/panoptic-centermask_v2-39.pth \
        --config configs/panoptic_centermask/panoptic-centermask_v2-39_fpn_ms-3x_coco.py

The source may hold its weights under ``"model"`` (detectron2) or be a bare state dict. The
target model is inferred from the checkpoint (backbone arch, DCN stages, channels, numbers of
convs and classes), or is the model of ``--config``. Every source key must map to a target key of
the right shape and every target key must be filled, else nothing is written unless
``--allow-partial`` is given. The input normalisation the weights expect is printed and stored
in the checkpoint's ``meta``.
"""
import argparse
import sys
from typing import List, Optional

from mmengine.config import Config

from mmdet_centermask.model_converters import (Conversion, add_partial_arguments,
                                               convert_centermask2, load_source_state_dict,
                                               run_conversion)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Convert a centermask2 checkpoint to an mmdet CenterMask checkpoint.')
    parser.add_argument('src', help='centermask2 checkpoint (.pth)')
    parser.add_argument('dst', help='output mmdet checkpoint')
    parser.add_argument(
        '--config', help='mmdet config whose model is the target (default: inferred)')
    add_partial_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the conversion; returns the exit status."""
    args = parse_args(argv)

    def convert() -> Conversion:
        config = Config.fromfile(args.config) if args.config else None
        return convert_centermask2(load_source_state_dict(args.src), config)

    return 0 if run_conversion(convert, args.src, args.dst, args.allow_partial) else 1


if __name__ == '__main__':
    sys.exit(main())
