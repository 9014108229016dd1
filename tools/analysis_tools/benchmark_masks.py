"""Peak memory and time of CenterMask's mask pasting on a large photo: full-size bitmaps (mmdet's
``FCNMaskHead`` paste, then COCO RLE as ``CocoMetric`` or a server encodes them) against masks
encoded as they are pasted (``test_cfg.rcnn.mask_format='rle'``).

Both run in this one process, taking turns, on the same detections: ``--num-dets`` boxes (seeded,
16 px to 60 % of the shorter side of the input image, labels cycling through the classes) with
random mask logits, rescaled from the test pipeline's input size to the photo's. Peak memory is
the largest increase of the RSS during one run over the RSS before it (the high-water mark reset
through ``/proc/self/clear_refs``, as in ``benchmark.py``).

Example::

    python tools/analysis_tools/benchmark_masks.py --height 3000 --width 4000 --num-dets 100
"""
import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List

import mmdet_centermask  # noqa: F401 (registers our models)
import torch
from mmengine.config import Config, ConfigDict
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures.mask import encode_mask_results

sys.path.insert(0, str(Path(__file__).parent))
from benchmark_inputs import fixed_detections  # noqa: E402
from benchmark_measures import peak_memory, reset_peak_memory  # noqa: E402

CONFIG = Path(__file__).parents[2] / 'configs' / 'centermask' / 'centermask_r50_fpn_1x_coco.py'
FORMATS = ('bitmap', 'rle')


def parse_args(args: List[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Memory of pasted masks: bitmaps against RLE')
    parser.add_argument('--config', default=str(CONFIG), help='a CenterMask config')
    parser.add_argument('--height', type=int, default=3000, help='photo height')
    parser.add_argument('--width', type=int, default=4000, help='photo width')
    parser.add_argument('--num-dets', type=int, default=100, help='detections per photo')
    parser.add_argument('--repeats', type=int, default=3, help='runs of each format')
    parser.add_argument('--threads', type=int, default=None, help='torch threads')
    parser.add_argument('--out-md', help='also write the table to this file')
    return parser.parse_args(args)


def input_shape(cfg: Config, height: int, width: int) -> tuple:
    """``(h, w)`` of the photo after the test pipeline's keep-ratio resize."""
    scale = next(step['scale'] for step in cfg.test_dataloader.dataset.pipeline
                 if step['type'] == 'Resize')
    factor = min(max(scale) / max(height, width), min(scale) / min(height, width))
    return round(height * factor), round(width * factor)


def paste(head: torch.nn.Module, results: InstanceData, mask_preds: torch.Tensor,
          img_meta: dict) -> int:
    """Paste (and with bitmaps, encode) the masks of one photo; the bytes of the result."""
    out = head.finalize_detections(results.clone(), mask_preds, img_meta, rescale=True)
    if head.mask_format == 'bitmap':
        bitmap_bytes = out.masks.numel()
        encode_mask_results(out.masks.numpy())
        return bitmap_bytes
    return sum(len(rle['counts']) for rle in out.masks)


def main(args: argparse.Namespace) -> List[Dict]:
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = Config.fromfile(args.config)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    heads = {fmt: MODELS.build(dict(cfg.model.roi_head, test_cfg=ConfigDict(
        cfg.model.test_cfg.rcnn, mask_format=fmt))) for fmt in FORMATS}
    img_h, img_w = input_shape(cfg, args.height, args.width)
    num_classes = cfg.model.bbox_head.num_classes
    results = fixed_detections(args.num_dets, (img_h, img_w), num_classes, seed=0)
    results.mask_scores = results.scores.clone()
    mask_preds = torch.randn(len(results), num_classes, 28, 28,
                             generator=torch.Generator().manual_seed(0)) * 4
    img_meta = dict(img_shape=(img_h, img_w), ori_shape=(args.height, args.width),
                    scale_factor=(img_w / args.width, img_h / args.height))
    measures = {fmt: dict(peak=[], seconds=[]) for fmt in FORMATS}
    sizes = {}
    for _ in range(args.repeats):
        for fmt in FORMATS:  # taking turns
            before = reset_peak_memory('cpu')
            start = time.perf_counter()
            sizes[fmt] = paste(heads[fmt], results, mask_preds, img_meta)
            measures[fmt]['seconds'].append(time.perf_counter() - start)
            measures[fmt]['peak'].append(peak_memory('cpu') - before)
    rows = [dict(format=fmt, peak_mb=statistics.median(measures[fmt]['peak']),
                 seconds=statistics.median(measures[fmt]['seconds']),
                 result_mb=sizes[fmt] / 2**20) for fmt in FORMATS]
    table = report(rows, args, (img_h, img_w))
    print(table)
    if args.out_md:
        Path(args.out_md).write_text(table + '\n')
    return rows


def report(rows: List[Dict], args: argparse.Namespace, input_size: tuple) -> str:
    """A markdown table with ratios to the bitmaps."""
    base = rows[0]
    lines = [f'{args.num_dets} masks on a {args.width}x{args.height} photo (input '
             f'{input_size[1]}x{input_size[0]}), {torch.get_num_threads()} threads, median of '
             f'{args.repeats}; bitmap: pasted, then encoded to RLE',
             '', '| masks | peak memory (MB) | result (MB) | seconds | peak ratio | time ratio |',
             '|---|---|---|---|---|---|']
    for row in rows:
        lines.append(f"| {row['format']} | {row['peak_mb']:.0f} | {row['result_mb']:.2f} | "
                     f"{row['seconds']:.2f} | {row['peak_mb'] / base['peak_mb']:.3f}x | "
                     f"{row['seconds'] / base['seconds']:.2f}x |")
    return '\n'.join(lines)


if __name__ == '__main__':
    main(parse_args())
