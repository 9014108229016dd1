"""Benchmark the inference of detectors side by side: latency, stage split, memory, size and FLOPs.

Every config runs in this one process on the same random images (batch 1, ``torch.inference_mode``,
``--threads`` threads), image by image with the configs taking turns, so that a change of
background load on a shared machine hits every config alike. A config is a path or a packaged
config such as ``mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py``. Models are built from their
configs with random weights (``Pretrained`` initialisations are dropped; ``--checkpoint`` loads
weights), and inference runs stage by stage, each stage timed:

- ``backbone_neck``: ``extract_feat``;
- ``box_head``: the dense box head and its post-processing (FCOS, CenterMask) or the RPN plus the
  R-CNN box head and their post-processing (two-stage models);
- ``mask_branch``: mask RoI extraction, mask head, MaskIoU head and mask pasting (0 without masks);
  the ``mask_head`` of YOLACT, SOLOv2 and CondInst; RTMDet-Ins computes its masks in its box head.

Random weights detect nothing, so ``--num-dets K`` hands every mask branch the same K boxes: the
box head runs in full with its configured post-processing (and is timed so), then its detections
are replaced by K fixed boxes (seeded, spread over the image, of sizes 16 px to 60% of the shorter
side, labels cycling through the classes). ``--num-dets 0`` keeps the box head's own detections
(for trained checkpoints). The rows record the RoIs the mask RoI extractor really received and
the masks in the output. Models whose masks need their own detections (YOLACT, SOLOv2, CondInst,
RTMDet-Ins) run with score thresholds 0 and ``max_per_img`` K instead (benchmark_inputs.py).

FLOPs are counted by mmengine's ``FlopAnalyzer`` (what ``get_model_complexity_info`` runs; one
multiply-add is one FLOP) on the benchmarked inference itself (same input, same K boxes), in total
and per stage; operators it has no counter for (NMS, RoIAlign, mask pasting) count 0. Peak memory
is the largest increase during one run over the memory before it (all models loaded): the RSS
high-water mark (reset through ``/proc/self/clear_refs``, Linux) on CPU, the allocated peak on CUDA.
``--fp16`` autocasts to float16 on CUDA and to bfloat16 on CPU, where the RoI extractors and the
heads' post-processing stay in float32 (mmcv's CPU RoIAlign and NMS have no bfloat16 kernels).
``--channels-last`` converts the weights and the input batch to the channels-last memory format
(oneDNN's native layout on CPU: much faster depthwise convolutions) and ``--fuse-conv-bn`` folds
every inference-mode BatchNorm into the convolution before it (mmcv's ``fuse_conv_bn``, as in
mmdet's own benchmark); outputs of both stay the same up to float rounding.

``--train`` measures training iterations instead (benchmark_training.py). The parts: the inputs
and models (benchmark_inputs.py), the stages and FLOPs (benchmark_stages.py), peak and memory
(benchmark_measures.py), the exported backends (benchmark_exported.py), tables and plots
(benchmark_report.py); this file holds the command line and the timing loop.

Example::

    python tools/analysis_tools/benchmark.py configs/centermask/centermask_r50_fpn_1x_coco.py \\
        mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py --input-size 800 1216 --num-dets 50 \\
        --threads 2 --out-json bench.json --out-md bench.md --out-png bench.png \\
        --out-scatter speed_accuracy.png
"""
import argparse
import json
import logging
import statistics
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import ContextManager, List, Optional, Sequence

import torch
from mmcv.cnn import fuse_conv_bn
from mmengine.logging import MMLogger
from mmengine.structures import InstanceData
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mmdet_centermask  # noqa: F401,E402 (registers our models)
import mmdet_centermask.compat  # noqa: F401,E402 (the fixes this stack needs)
from benchmark_exported import EXPORTED_BACKENDS, ExportedBenchmark  # noqa: E402
from benchmark_inputs import (build_model, copy_detections, detect_own_instances,  # noqa: E402
                              fixed_detections, load_config, num_dets_policy, preprocess,
                              random_images)
from benchmark_measures import (add_peak_fraction, matmul_peak_gflops,  # noqa: E402
                                peak_memory, reset_peak_memory)
from benchmark_report import (markdown_table, plot_speed_accuracy, plot_stages,  # noqa: E402
                              published_mask_ap)
from benchmark_stages import (STAGES, BenchmarkedInference, RunRecord,  # noqa: E402
                              StagedDetector, count_gflops, float32_where_cpu_ops_need_it)
from benchmark_training import train_main  # noqa: E402

from mmdet_centermask.models import CenterMask  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        description='MMDet inference benchmark of several configs on the same inputs')
    parser.add_argument('config', nargs='+',
                        help='config files or packaged configs (mmdet::group/name.py)')
    parser.add_argument('--checkpoint', nargs='+',
                        help='one checkpoint per config ("none" keeps random weights); '
                        'default: random weights for all')
    parser.add_argument('--num-images', type=int, default=10, help='timed images per config')
    parser.add_argument('--input-size', type=int, nargs=2, default=[800, 1216],
                        metavar=('H', 'W'), help='input image height and width')
    parser.add_argument('--num-dets', type=int, default=50,
                        help='boxes handed to every mask branch; 0 keeps the box head output')
    parser.add_argument('--threads', type=int, default=torch.get_num_threads(),
                        help='torch intra-op threads')
    parser.add_argument('--device', choices=['cpu', 'cuda'], default='cpu')
    parser.add_argument('--fp16', action='store_true',
                        help='autocast: bfloat16 on CPU, float16 on CUDA')
    parser.add_argument('--channels-last', action='store_true',
                        help='weights and inputs in the channels-last memory format')
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='fold BatchNorm layers into the convolutions before them')
    parser.add_argument('--backend', nargs='+', default=['pytorch'],
                        choices=['pytorch', *EXPORTED_BACKENDS],
                        help='also run each CenterMask config exported to ONNX on these engines '
                        '(benchmark_exported.py); the PyTorch rows are always there')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs before timing')
    parser.add_argument('--seed', type=int, default=0, help='seed of weights, images and boxes')
    parser.add_argument('--baseline', help='config the ratios refer to (default: the first)')
    parser.add_argument('--out-json', required=True, help='rows as a JSON list')
    parser.add_argument('--out-md', help='Markdown table')
    parser.add_argument('--out-png', help='bar chart of the stage times')
    parser.add_argument('--out-scatter',
                        help='latency against published COCO mask AP (configs with one)')
    parser.add_argument('--train', action='store_true',
                        help='time training iterations instead (benchmark_training.py)')
    parser.add_argument('--batch-size', type=int, default=2, help='images per training batch')
    args = parser.parse_args(argv)
    if args.checkpoint is not None and len(args.checkpoint) != len(args.config):
        parser.error(f'--checkpoint needs one entry per config ({len(args.config)}), '
                     f'got {len(args.checkpoint)}')
    if args.baseline is not None and args.baseline not in args.config:
        parser.error(f'--baseline {args.baseline} is not one of the configs')
    if args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    if args.num_images < 1 or args.warmup < 0 or args.num_dets < 0 or args.threads < 1:
        parser.error('--num-images and --threads must be >= 1, --warmup and --num-dets >= 0')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    return args


class ConfigBenchmark:
    """One config's model, inputs and measurements.

    Args:
        config (str): Config path or packaged config.
        checkpoint (str, optional): Checkpoint to load; None keeps random weights.
        images (list[Tensor]): The uint8 images every config runs on.
        args (argparse.Namespace): The command line.
    """

    def __init__(self, config: str, checkpoint: Optional[str], images: List[Tensor],
                 args: argparse.Namespace) -> None:
        self.config = config
        self.checkpoint = checkpoint
        self.args = args
        self.cfg = load_config(config)
        self.model = build_model(self.cfg.copy(), checkpoint, args.device, args.seed)
        self.params_m = sum(param.numel() for param in self.model.parameters()) / 1e6
        if args.fuse_conv_bn:
            fuse_conv_bn(self.model)
        self.synchronize = torch.cuda.synchronize if args.device == 'cuda' else (lambda: None)
        self.staged = StagedDetector(self.model, self.synchronize)
        if args.num_dets and self.staged.with_mask and not self.staged.takes_fixed_boxes:
            detect_own_instances(self.model, args.num_dets)
        self.batches = [preprocess(self.model, image) for image in images]
        if args.channels_last:
            self.model.to(memory_format=torch.channels_last)
            self.batches = [(inputs.contiguous(memory_format=torch.channels_last), samples)
                            for inputs, samples in self.batches]
        if args.fp16 and args.device == 'cpu':
            float32_where_cpu_ops_need_it(self.model)
        self.flops = count_gflops(
            BenchmarkedInference(self.staged, self.batches[0][1], self.make_detections),
            self.batches[0][0])
        self.latencies: List[float] = []
        self.records: List[RunRecord] = []
        self.peak_mems_mb: List[float] = []

    def make_detections(self) -> Optional[List[InstanceData]]:
        """Fresh fixed detections for the mask branch; None keeps the box head's own."""
        if self.args.num_dets == 0 or not self.staged.with_roi_mask:
            return None
        template = fixed_detections(self.args.num_dets, self.args.input_size,
                                    self.model.roi_head.mask_head.num_classes, self.args.seed)
        return [copy_detections(template, self.args.device)]

    def autocast(self) -> ContextManager:
        """``--fp16``: bfloat16 autocast on CPU, float16 on CUDA."""
        if not self.args.fp16:
            return nullcontext()
        dtype = torch.bfloat16 if self.args.device == 'cpu' else torch.float16
        return torch.autocast(self.args.device, dtype=dtype)

    def run(self, image_index: int, timed: bool) -> None:
        """Infer one image; keep its latency, stage times and counts when ``timed``. Every run
        records its peak memory."""
        inputs, samples = self.batches[image_index]
        detections = self.make_detections()
        memory_before = reset_peak_memory(self.args.device)
        with torch.inference_mode(), self.autocast():
            start = time.perf_counter()
            _, _, record = self.staged(inputs, samples, detections)
            self.synchronize()
            latency = time.perf_counter() - start
        self.peak_mems_mb.append(peak_memory(self.args.device) - memory_before)
        if timed:
            self.latencies.append(latency)
            self.records.append(record)

    def row(self) -> dict:
        """The config's results."""
        args, latencies, records = self.args, self.latencies, self.records
        row = dict(
            config=self.config,
            name=Path(self.config.split('::')[-1]).stem,
            model=type(self.model).__name__,
            family=self.staged.family,
            checkpoint=self.checkpoint,
            input_size=list(args.input_size),
            num_images=args.num_images,
            warmup=args.warmup,
            num_dets=args.num_dets,
            num_dets_policy=num_dets_policy(args.num_dets),
            threads=args.threads,
            device=args.device,
            fp16=args.fp16,
            channels_last=args.channels_last,
            fuse_conv_bn=args.fuse_conv_bn,
            latency_s_median=statistics.median(latencies),
            latency_s_min=min(latencies),
            latency_s_max=max(latencies),
            latencies_s=latencies,
            images_per_s=len(latencies) / sum(latencies))
        for stage in STAGES:
            stage_s = [record.stage_s[stage] for record in records]
            row[f'{stage}_s_median'] = statistics.median(stage_s)
            row[f'{stage}_s_min'] = min(stage_s)
        row.update(
            box_head_num_dets=statistics.median(r.box_head_num_dets for r in records),
            mask_branch_num_rois=statistics.median(r.mask_branch_num_rois for r in records),
            num_masks=statistics.median(r.num_masks for r in records),
            published_mask_ap=published_mask_ap(self.config),
            peak_mem_mb=max(self.peak_mems_mb),
            params_m=self.params_m,
            **self.flops)
        return row


def main(argv: Optional[Sequence[str]] = None) -> List[dict]:
    """Benchmark the configs and write the outputs; return the rows."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # quiet init_weights reports
    if args.train:
        return train_main(args)
    images = random_images(args.num_images, args.input_size, args.seed)
    checkpoints = [None if ckpt in (None, 'none') else ckpt
                   for ckpt in (args.checkpoint or [None] * len(args.config))]
    print(num_dets_policy(args.num_dets), flush=True)
    benchmarks = []
    for index, (config, checkpoint) in enumerate(zip(args.config, checkpoints), start=1):
        print(f'[{index}/{len(args.config)}] building {config}', flush=True)
        benchmark = ConfigBenchmark(config, checkpoint, images, args)
        benchmarks.append(benchmark)
        if benchmark.flops['flops_error'] is not None:
            print(f'  FLOPs not counted: {benchmark.flops["flops_error"]}', flush=True)
        if isinstance(benchmark.model, CenterMask):
            for backend in args.backend:
                if backend != 'pytorch':
                    print(f'  exporting for {backend}', flush=True)
                    benchmarks.append(ExportedBenchmark(benchmark, backend))
    # image by image, every config in turn: a change of background load hits all of them
    for run in range(args.warmup + args.num_images):
        print(f'{"warm-up" if run < args.warmup else "timed"} run {run + 1}', flush=True)
        for benchmark in benchmarks:
            benchmark.run(run % args.num_images, timed=run >= args.warmup)
    rows = [benchmark.row() for benchmark in benchmarks]
    peaks = {name: matmul_peak_gflops(dtype, args.device)
             for name, dtype in (('fp32', torch.float32), ('bf16', torch.bfloat16))}
    for row in rows:
        row['peak_gflops_s'] = peaks
        add_peak_fraction(row, peaks)
    Path(args.out_json).write_text(json.dumps(rows, indent=2) + '\n')
    table = markdown_table(rows, args.baseline or args.config[0])
    print(table, flush=True)
    if args.out_md:
        Path(args.out_md).write_text(table)
    if args.out_png:
        plot_stages(rows, args.out_png)
    if args.out_scatter:
        plot_speed_accuracy(rows, args.out_scatter)
    return rows


if __name__ == '__main__':
    main()
