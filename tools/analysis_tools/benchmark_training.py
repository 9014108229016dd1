"""``benchmark.py --train``: seconds per training iteration and its peak memory, side by side.

One iteration is mmengine's ``model.train_step``, as the runner runs it: the data preprocessor,
forward with the losses, backward and the optimiser step of the config's own ``optim_wrapper``.
Every config trains on the same batch of ``--batch-size`` random images, each with ``--num-dets``
ground-truth objects (the fixed boxes of the inference benchmark, each holding an elliptical mask;
at least one), the configs taking turns iteration by iteration, at the learning rate of the first
iteration of the config's warm-up. SyncBN becomes BN (one process).
"""
import argparse
import json
import statistics
import time
from pathlib import Path
from typing import List

import numpy as np
import torch
from mmengine.model import revert_sync_batchnorm
from mmengine.optim import build_optim_wrapper
from mmengine.structures import InstanceData
from torch import Tensor

from benchmark_inputs import build_model, fixed_detections, load_config, random_images
from benchmark_measures import peak_memory, reset_peak_memory
from benchmark_report import ratio, run_settings
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks


def elliptical_masks(bboxes: Tensor, height: int, width: int) -> BitmapMasks:
    """One mask per box: the ellipse inscribed in it."""
    rows = np.arange(height)[None, :, None] + 0.5
    cols = np.arange(width)[None, None, :] + 0.5
    x1, y1, x2, y2 = (bboxes.numpy()[:, k, None, None] for k in range(4))
    inside = (((cols - (x1 + x2) / 2) / ((x2 - x1) / 2))**2 +
              ((rows - (y1 + y2) / 2) / ((y2 - y1) / 2))**2) <= 1
    return BitmapMasks(inside.astype(np.uint8), height, width)


def training_batch(images: List[Tensor], num_gts: int, num_classes: int, seed: int) -> dict:
    """The images with ground truth, as a dataloader gives them to ``train_step``."""
    samples = []
    for index, image in enumerate(images):
        height, width = image.shape[-2:]
        gts = fixed_detections(max(num_gts, 1), (height, width), num_classes, seed + index)
        sample = DetDataSample(metainfo=dict(
            img_id=index, img_shape=(height, width), ori_shape=(height, width),
            scale_factor=(1.0, 1.0), flip=False))
        sample.gt_instances = InstanceData(
            bboxes=gts.bboxes, labels=gts.labels,
            masks=elliptical_masks(gts.bboxes, height, width))
        samples.append(sample)
    return dict(inputs=list(images), data_samples=samples)


def num_classes_of(cfg) -> int:
    """The class count of the config's first head that states one (80 for COCO)."""
    for head in ('bbox_head', 'roi_head', 'mask_head'):
        node = cfg.model.get(head)
        if head == 'roi_head' and node is not None:
            node = node.get('bbox_head')
        if node is not None and 'num_classes' in node:
            return node['num_classes']
    raise ValueError('the config states no num_classes in bbox_head, roi_head or mask_head')


def warmup_start_factor(cfg) -> float:
    """The factor of the config's first iteration-based ``LinearLR`` warm-up (1 without one):
    the runner starts training at that fraction of the learning rate, and random weights at the
    full rate diverge within a few iterations."""
    schedulers = cfg.get('param_scheduler') or []
    for scheduler in schedulers if isinstance(schedulers, list) else [schedulers]:
        if scheduler.get('type') == 'LinearLR' and not scheduler.get('by_epoch', True):
            return scheduler.get('start_factor', 1.0 / 3)
    return 1.0


class TrainingBenchmark:
    """One config's model, optimiser, batch and iteration times.

    Args:
        config (str): Config path or packaged config.
        images (list[Tensor]): The batch's uint8 images.
        args (argparse.Namespace): The command line.
    """

    def __init__(self, config: str, images: List[Tensor], args: argparse.Namespace) -> None:
        self.config = config
        self.args = args
        cfg = load_config(config)
        model = build_model(cfg.copy(), None, args.device, args.seed)
        self.model = revert_sync_batchnorm(model).train()
        # masks padded with the images (RTMDet's pipeline pads both to 640x640 instead)
        self.model.data_preprocessor.pad_mask = True
        self.params_m = sum(param.numel() for param in model.parameters()) / 1e6
        self.optim_wrapper = build_optim_wrapper(self.model, cfg.optim_wrapper)
        start_factor = warmup_start_factor(cfg)
        for group in self.optim_wrapper.optimizer.param_groups:
            group['lr'] *= start_factor
        self.batch = training_batch(images, args.num_dets, num_classes_of(cfg), args.seed)
        self.iteration_s: List[float] = []
        self.peak_mems_mb: List[float] = []
        self.losses: List[float] = []

    def run(self, timed: bool) -> None:
        """One training iteration; its time and loss are kept when ``timed``."""
        memory_before = reset_peak_memory(self.args.device)
        start = time.perf_counter()
        log_vars = self.model.train_step(self.batch, self.optim_wrapper)
        if self.args.device == 'cuda':
            torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        self.peak_mems_mb.append(peak_memory(self.args.device) - memory_before)
        loss = float(torch.as_tensor(log_vars['loss']).detach())
        if not np.isfinite(loss):
            raise FloatingPointError(f'{self.config}: the loss is {loss} on the random batch')
        if timed:
            self.iteration_s.append(seconds)
            self.losses.append(loss)

    def row(self) -> dict:
        """The config's results."""
        args = self.args
        return dict(
            config=self.config,
            name=Path(self.config.split('::')[-1]).stem,
            model=type(self.model).__name__,
            mode='train',
            input_size=list(args.input_size),
            batch_size=args.batch_size,
            num_gts=max(args.num_dets, 1),
            num_iters=len(self.iteration_s),
            warmup=args.warmup,
            threads=args.threads,
            device=args.device,
            fp16=False, channels_last=False, fuse_conv_bn=False,
            iteration_s_median=statistics.median(self.iteration_s),
            iteration_s_min=min(self.iteration_s),
            iteration_s_max=max(self.iteration_s),
            iterations_s=self.iteration_s,
            losses=self.losses,
            peak_mem_mb=max(self.peak_mems_mb),
            params_m=self.params_m)


def training_table(rows: List[dict], baseline: str) -> str:
    """The training rows as a Markdown table with ratios to the baseline row."""
    first = rows[0]
    reference = next(row for row in rows if row['config'] == baseline)
    height, width = first['input_size']
    lines = [
        f'Training, input {height}x{width}, batch {first["batch_size"]} of random images with '
        f'{first["num_gts"]} objects each (boxes with elliptical masks), {first["num_iters"]} '
        f'iterations after {first["warmup"]} warm-up ones, configs taking turns, '
        f'{run_settings(first)}; one iteration = train_step (preprocessing, forward with the '
        f'losses, backward, the config\'s optimiser step); ratios to `{reference["name"]}`.',
        '',
        '| config | s/iter (min-max) | peak mem MB | params M | s/iter ratio | '
        'min s/iter ratio | peak mem ratio |',
        '|---|---|---|---|---|---|---|',
    ]
    for row in rows:
        lines.append(
            f'| {row["name"]} | {row["iteration_s_median"]:.2f} '
            f'({row["iteration_s_min"]:.2f}-{row["iteration_s_max"]:.2f}) | '
            f'{row["peak_mem_mb"]:.0f} | {row["params_m"]:.1f} | '
            f'{ratio(row["iteration_s_median"], reference["iteration_s_median"])} | '
            f'{ratio(row["iteration_s_min"], reference["iteration_s_min"])} | '
            f'{ratio(row["peak_mem_mb"], reference["peak_mem_mb"])} |')
    return '\n'.join(lines) + '\n'


def train_main(args: argparse.Namespace) -> List[dict]:
    """Time ``--num-images`` training iterations of every config; write and return the rows."""
    if args.checkpoint or args.fp16 or args.channels_last or args.fuse_conv_bn or \
            args.backend != ['pytorch']:
        raise SystemExit('--train runs the configs as they train: without --checkpoint, '
                         '--fp16, --channels-last, --fuse-conv-bn and exported --backend')
    images = random_images(args.batch_size, args.input_size, args.seed)
    benchmarks = []
    for index, config in enumerate(args.config, start=1):
        print(f'[{index}/{len(args.config)}] building {config} for training', flush=True)
        benchmarks.append(TrainingBenchmark(config, images, args))
    for iteration in range(args.warmup + args.num_images):
        print(f'{"warm-up" if iteration < args.warmup else "timed"} iteration {iteration + 1}',
              flush=True)
        for benchmark in benchmarks:
            benchmark.run(timed=iteration >= args.warmup)
    rows = [benchmark.row() for benchmark in benchmarks]
    Path(args.out_json).write_text(json.dumps(rows, indent=2) + '\n')
    table = training_table(rows, args.baseline or args.config[0])
    print(table, flush=True)
    if args.out_md:
        Path(args.out_md).write_text(table)
    return rows
