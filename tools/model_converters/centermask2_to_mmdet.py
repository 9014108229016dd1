"""Convert a centermask2 (detectron2) CenterMask checkpoint to an mmdet checkpoint.

Example::

    python tools/model_converters/centermask2_to_mmdet.py \
        centermask2-V-39-eSE-FPN-ms-3x.pth checkpoints/centermask_v2-39_fpn_ms-3x_coco.pth \
        --config configs/centermask/centermask_v2-39_fpn_ms-3x_coco.py

The source may hold its weights under ``"model"`` (detectron2) or be a bare state dict. The
target model is inferred from the checkpoint (backbone arch, DCN stages, channels, numbers of
convs and classes), or is the model of ``--config``. Every source key must map to a target key of
the right shape and every target key must be filled, else nothing is written unless
``--allow-partial`` is given. The input normalisation the weights expect is printed and stored
in the checkpoint's ``meta``.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmengine.config import Config

from mmdet_centermask.model_converters import (ConversionError, convert_centermask2,
                                               load_source_state_dict, save_checkpoint)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Convert a centermask2 checkpoint to an mmdet CenterMask checkpoint.')
    parser.add_argument('src', help='centermask2 checkpoint (.pth)')
    parser.add_argument('dst', help='output mmdet checkpoint')
    parser.add_argument(
        '--config', help='mmdet config whose model is the target (default: inferred)')
    partial = parser.add_mutually_exclusive_group()
    partial.add_argument(
        '--strict',
        dest='allow_partial',
        action='store_false',
        default=False,
        help='refuse to write a partial checkpoint (default)')
    partial.add_argument(
        '--allow-partial',
        dest='allow_partial',
        action='store_true',
        help='write the tensors that fit even if keys are unmapped, unfilled or of other shapes')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the conversion; returns the exit status."""
    args = parse_args(argv)
    try:
        source = load_source_state_dict(args.src)
        config = Config.fromfile(args.config) if args.config else None
        conversion = convert_centermask2(source, config)
        state_dict = conversion.checked_state_dict(args.allow_partial)
    except ConversionError as error:
        print(f'error: {args.src}: {error}', file=sys.stderr)
        return 1
    meta = dict(conversion.meta, converted_from=osp.basename(args.src))
    save_checkpoint(args.dst, state_dict, meta)
    print(conversion.summary())
    print(f'saved {len(state_dict)} tensors to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
