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
import sys
from typing import List, Optional

from mmdet_centermask.model_converters import (add_partial_arguments, convert_vovnet,
                                               load_source_state_dict, run_conversion)
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
    add_partial_arguments(parser)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    """Run the conversion; returns the exit status."""
    args = parse_args(argv)
    conversion = run_conversion(
        lambda: convert_vovnet(load_source_state_dict(args.src), args.arch), args.src, args.dst,
        args.allow_partial)
    if conversion is None:
        return 1
    print(f'{conversion.meta["source"]} VoVNet -> {conversion.meta["backbone"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
