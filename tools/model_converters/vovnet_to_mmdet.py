"""Convert VoVNet ImageNet weights (detectron2 releases or timm) to an mmdet backbone checkpoint.

Example::

    python tools/model_converters/vovnet_to_mmdet.py \
        vovnet39_ese_detectron2.pth checkpoints/vovnet39_ese_detectron2_mmdet.pth

The source layout is told from the keys: the detectron2 releases (``vovnet39_ese_detectron2.pth``
...; ``backbone.bottom_up.stem.stem_1/conv.weight`` ..., bare or under ``"model"``, BGR input,
mean subtraction only) or timm's ``ese_vovnet*`` state dicts (``stem.0.conv.weight`` ..., RGB
input with the ImageNet mean and std; the blocks timm builds without eSE get an exact identity
eSE). The arch is inferred from the keys and shapes; ``--arch`` names it where they cannot tell.
The output holds bare backbone keys, for
``backbone=dict(type='VoVNet', init_cfg=dict(type='Pretrained', checkpoint=DST))``. The input
normalisation the weights expect is printed and stored in the checkpoint's ``meta``.
"""
import argparse
import os.path as osp
import sys
from typing import List, Optional

from mmdet_centermask.model_converters import (ConversionError, convert_vovnet,
                                               load_source_state_dict, save_checkpoint)
from mmdet_centermask.models import VoVNet


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command-line arguments."""
    parser = argparse.ArgumentParser(
        description='Convert detectron2 or timm VoVNet ImageNet weights to an mmdet backbone '
        'checkpoint.')
    parser.add_argument('src', help='detectron2 or timm VoVNet state dict (.pth)')
    parser.add_argument('dst', help='output backbone checkpoint')
    parser.add_argument(
        '--arch',
        choices=sorted(VoVNet.arch_settings),
        help='target arch, for sources whose keys cannot tell (default: inferred)')
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
        conversion = convert_vovnet(load_source_state_dict(args.src), args.arch)
        state_dict = conversion.checked_state_dict(args.allow_partial)
    except ConversionError as error:
        print(f'error: {args.src}: {error}', file=sys.stderr)
        return 1
    meta = dict(conversion.meta, converted_from=osp.basename(args.src))
    save_checkpoint(args.dst, state_dict, meta)
    backbone = conversion.meta['backbone']
    print(f'{conversion.meta["source"]} VoVNet -> {backbone}')
    print(conversion.summary())
    print(f'saved {len(state_dict)} tensors to {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
