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
- ``mask_branch``: mask RoI extraction, mask head, MaskIoU head and mask pasting (0 without masks).

Random weights detect nothing, so ``--num-dets K`` hands every mask branch the same K boxes: the
box head runs in full with its configured post-processing (and is timed so), then its detections
are replaced by K fixed boxes (seeded, spread over the image, of sizes 16 px to 60% of the shorter
side, labels cycling through the classes). ``--num-dets 0`` keeps the box head's own detections
(for trained checkpoints). The rows record the RoIs the mask RoI extractor really received.

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

Example::

    python tools/analysis_tools/benchmark.py configs/centermask/centermask_r50_fpn_1x_coco.py \\
        mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py --input-size 800 1216 --num-dets 50 \\
        --threads 2 --out-json bench.json --out-md bench.md --out-png bench.png
"""
import argparse
import ctypes
import functools
import gc
import json
import logging
import math
import re
import statistics
import sys
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmcv.cnn import fuse_conv_bn
from mmengine.analysis import FlopAnalyzer
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from mmengine.structures import InstanceData
from torch import Tensor, nn
from torch.profiler import record_function

import mmdet_centermask  # noqa: F401 (registers our models, applies the compat fixes)
from mmdet.models.detectors import BaseDetector, SingleStageDetector, TwoStageDetector
from mmdet_centermask.models import CenterMask
from mmdet.models.roi_heads.roi_extractors import BaseRoIExtractor
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample, SampleList

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchmark_exported import EXPORTED_BACKENDS, ExportedBenchmark  # noqa: E402

STAGES = ('backbone_neck', 'box_head', 'mask_branch')
STAGE_LABELS = {'backbone_neck': 'backbone+neck', 'box_head': 'box head',
                'mask_branch': 'mask branch'}
FIXED_BOX_MIN_SIDE = 16.0
FIXED_BOX_MAX_SIDE_RATIO = 0.6


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
    args = parser.parse_args(argv)
    if args.checkpoint is not None and len(args.checkpoint) != len(args.config):
        parser.error(f'--checkpoint needs one entry per config ({len(args.config)}), '
                     f'got {len(args.checkpoint)}')
    if args.baseline is not None and args.baseline not in args.config:
        parser.error(f'--baseline {args.baseline} is not one of the configs')
    if args.num_images < 1 or args.warmup < 0 or args.num_dets < 0 or args.threads < 1:
        parser.error('--num-images and --threads must be >= 1, --warmup and --num-dets >= 0')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    return args


def load_config(config: str) -> Config:
    """A config from a path or a packaged ``package::group/name.py`` config."""
    return get_config(config) if '::' in config else Config.fromfile(config)


def drop_pretrained_init(node: object) -> None:
    """Remove every ``init_cfg`` of type ``Pretrained`` from a config tree, in place."""
    if isinstance(node, dict):
        init_cfg = node.get('init_cfg')
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Pretrained':
            node['init_cfg'] = None
        elif isinstance(init_cfg, list):
            node['init_cfg'] = [cfg for cfg in init_cfg if cfg.get('type') != 'Pretrained']
        for value in node.values():
            drop_pretrained_init(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            drop_pretrained_init(value)


def build_model(cfg: Config, checkpoint: Optional[str], device: str, seed: int) -> BaseDetector:
    """Build ``cfg.model`` in eval mode: seeded random initialisation, then the checkpoint if any.

    ``init_weights`` runs without the ``Pretrained`` entries, so the heads get their configured
    initialisation (e.g. the classification prior of dense heads) and nothing is downloaded.
    """
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    drop_pretrained_init(cfg.model)
    torch.manual_seed(seed)
    model = MODELS.build(cfg.model)
    model.init_weights()
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu')
    return model.to(device).eval()


def random_images(num_images: int, input_size: Sequence[int], seed: int) -> List[Tensor]:
    """``num_images`` uint8 images (3, H, W) of uniform noise."""
    generator = torch.Generator().manual_seed(seed)
    return [torch.randint(0, 256, (3, *input_size), dtype=torch.uint8, generator=generator)
            for _ in range(num_images)]


def preprocess(model: BaseDetector, image: Tensor) -> Tuple[Tensor, SampleList]:
    """An image through the model's own data preprocessor, as a batch of one.

    The sample says the image is its own original (``scale_factor`` 1), so ``predict`` works with
    ``rescale=True``; the preprocessor adds ``pad_shape`` and ``batch_input_shape``.
    """
    height, width = image.shape[-2:]
    sample = DetDataSample(metainfo=dict(
        img_id=0, img_shape=(height, width), ori_shape=(height, width), scale_factor=(1.0, 1.0)))
    data = model.data_preprocessor(dict(inputs=[image], data_samples=[sample]), training=False)
    return data['inputs'], data['data_samples']


def fixed_detections(num_dets: int, input_size: Sequence[int], num_classes: int,
                     seed: int) -> InstanceData:
    """K boxes spread over the image: log-uniform sizes from 16 px to 60% of the shorter side,
    aspect ratios 1:2 to 2:1, labels ``i % num_classes``, decreasing scores (in input pixels)."""
    rng = np.random.RandomState(seed)
    height, width = input_size
    max_side = FIXED_BOX_MAX_SIDE_RATIO * min(height, width)
    sides = np.exp(rng.uniform(np.log(FIXED_BOX_MIN_SIDE), np.log(max_side), num_dets))
    aspects = np.exp(rng.uniform(np.log(0.5), np.log(2.0), num_dets))
    box_w = np.minimum(sides * np.sqrt(aspects), width)
    box_h = np.minimum(sides / np.sqrt(aspects), height)
    x1 = rng.uniform(0, width - box_w)
    y1 = rng.uniform(0, height - box_h)
    bboxes = np.stack([x1, y1, x1 + box_w, y1 + box_h], axis=1)
    return InstanceData(
        bboxes=torch.from_numpy(bboxes).float(),
        scores=torch.linspace(0.9, 0.1, num_dets),
        labels=torch.arange(num_dets) % num_classes)


def copy_detections(detections: InstanceData, device: str) -> InstanceData:
    """Fresh tensors on ``device``: mask post-processing rescales the boxes in place."""
    return InstanceData(**{key: value.to(device, copy=True) for key, value in detections.items()})


def to_float32(value: object) -> object:
    """Floating tensors, also inside lists and tuples, as float32; anything else unchanged."""
    if isinstance(value, Tensor) and value.is_floating_point():
        return value.float()
    if isinstance(value, (list, tuple)):
        return type(value)(to_float32(item) for item in value)
    return value


def in_float32(method: Callable) -> Callable:
    """``method`` with float32 arguments and autocast disabled."""

    @functools.wraps(method)
    def float32_method(*args, **kwargs):
        with torch.autocast('cpu', enabled=False):
            return method(*to_float32(args),
                          **{key: to_float32(value) for key, value in kwargs.items()})

    return float32_method


def float32_where_cpu_ops_need_it(model: BaseDetector) -> None:
    """Run the RoI extractors and the heads' post-processing (``predict_by_feat``) in float32.

    mmcv's CPU RoIAlign and NMS have no bfloat16 kernels, so CPU autocast stops there otherwise;
    mmdet 2.x forced float32 in the same places (``force_fp32``).
    """
    for module in model.modules():
        if isinstance(module, BaseRoIExtractor):
            module.forward = in_float32(module.forward)
        if hasattr(module, 'predict_by_feat'):
            module.predict_by_feat = in_float32(module.predict_by_feat)


def detector_family(model: BaseDetector) -> str:
    """``'single-stage'``, ``'single-stage + mask branch'`` (CenterMask) or ``'two-stage'``."""
    if isinstance(model, TwoStageDetector):
        return 'two-stage'
    if isinstance(model, SingleStageDetector):
        if getattr(model, 'roi_head', None) is not None:
            return 'single-stage + mask branch'
        return 'single-stage'
    raise TypeError(f'{type(model).__name__} is not supported: the benchmark splits '
                    'SingleStageDetector (with or without a roi_head mask branch, e.g. FCOS, '
                    'CenterMask) and TwoStageDetector (e.g. Mask R-CNN) subclasses')


@dataclass
class RunRecord:
    """What one inference run measured.

    Attributes:
        stage_s (dict[str, float]): Seconds spent in each of :data:`STAGES`.
        box_head_num_dets (int): Detections the box head produced itself.
        mask_branch_num_rois (int): RoIs the mask RoI extractor received.
    """
    stage_s: Dict[str, float]
    box_head_num_dets: int
    mask_branch_num_rois: int


class StagedDetector:
    """A detector's ``predict`` (with ``rescale=True``) run stage by stage, each stage timed.

    Args:
        model (BaseDetector): Detector in eval mode (see :func:`detector_family`).
        synchronize (Callable[[], None]): Called at the end of each stage (CUDA synchronisation;
            a no-op on CPU).
    """

    def __init__(self, model: BaseDetector, synchronize: Callable[[], None]) -> None:
        self.model = model
        self.family = detector_family(model)
        self.synchronize = synchronize
        self.with_mask = self.family != 'single-stage' and model.roi_head.with_mask
        self._num_rois = 0
        if self.with_mask:
            model.roi_head.mask_roi_extractor.register_forward_hook(self._count_rois)

    def _count_rois(self, module: nn.Module, args: tuple, output: Tensor) -> None:
        """Forward hook of the mask RoI extractor: count the RoIs it pooled."""
        self._num_rois += output.shape[0]

    @contextmanager
    def _timed(self, stage_s: Dict[str, float], stage: str) -> Iterator[None]:
        """Store the seconds the block takes in ``stage_s[stage]`` (and name the block in
        ``torch.profiler`` traces)."""
        start = time.perf_counter()
        with record_function(stage):
            yield
            self.synchronize()
        stage_s[stage] = time.perf_counter() - start

    def _predict_boxes(self, x: Tuple[Tensor], samples: SampleList) -> List[InstanceData]:
        """Detections of the box head(s), in input pixels when a mask branch follows."""
        model = self.model
        if self.family == 'two-stage':
            proposals = model.rpn_head.predict(x, samples, rescale=False)
            return model.roi_head.predict_bbox(
                x, [sample.metainfo for sample in samples], proposals,
                rcnn_test_cfg=model.roi_head.test_cfg, rescale=not self.with_mask)
        return model.bbox_head.predict(x, samples, rescale=not self.with_mask)

    def __call__(
        self, inputs: Tensor, samples: SampleList, detections: Optional[List[InstanceData]]
    ) -> Tuple[SampleList, List[InstanceData], RunRecord]:
        """Run inference.

        Args:
            inputs (Tensor): Preprocessed images (N, C, H, W).
            samples (list[:obj:`DetDataSample`]): Their samples with meta information.
            detections (list[:obj:`InstanceData`], optional): Detections per image that replace
                the box head's before the mask branch; None keeps the box head's.

        Returns:
            tuple: The samples with ``pred_instances``, the box head's own detections per image
            and the measurements (:class:`RunRecord`).
        """
        stage_s = dict.fromkeys(STAGES, 0.0)
        with self._timed(stage_s, 'backbone_neck'):
            x = self.model.extract_feat(inputs)
        with self._timed(stage_s, 'box_head'):
            box_results = self._predict_boxes(x, samples)
        box_head_num_dets = sum(len(result) for result in box_results)
        results = box_results if detections is None else detections
        self._num_rois = 0
        if self.with_mask:
            with self._timed(stage_s, 'mask_branch'):
                results = self.model.roi_head.predict_mask(
                    x, [sample.metainfo for sample in samples], results, rescale=True)
        samples = self.model.add_pred_to_datasample(samples, results)
        return samples, box_results, RunRecord(stage_s, box_head_num_dets, self._num_rois)


class BenchmarkedInference(nn.Module):
    """The benchmarked inference of one image as a module, for mmengine's ``FlopAnalyzer``.

    Args:
        staged (StagedDetector): The staged detector; its model is this module's ``detector``.
        samples (list[:obj:`DetDataSample`]): Samples of the traced input.
        make_detections (Callable[[], list[InstanceData] | None]): Fresh replacement detections.
    """

    def __init__(self, staged: StagedDetector, samples: SampleList,
                 make_detections: Callable[[], Optional[List[InstanceData]]]) -> None:
        super().__init__()
        self.detector = staged.model
        self.staged = staged
        self.samples = samples
        self.make_detections = make_detections

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Predict; return every tensor of the predictions and of the box head's own detections
        (the trace keeps only the operators the outputs depend on)."""
        samples, box_results, _ = self.staged(inputs, self.samples, self.make_detections())
        instances = [sample.pred_instances for sample in samples] + box_results
        return tuple(value for results in instances for value in results.values())


@contextmanager
def slash_free_module_names(model: nn.Module) -> Iterator[None]:
    """Replace ``/`` in child module names by ``_`` inside the block.

    The tracer joins scope names with ``/``, so ``FlopAnalyzer`` fails on names that contain one
    (VoVNet's centermask2 names such as ``stem_1/conv``). Forward passes that iterate over the
    children (``Sequential``) are unaffected.
    """
    renamed = [(module, module._modules) for module in model.modules()
               if any('/' in name for name in module._modules)]
    for module, children in renamed:
        module._modules = {name.replace('/', '_'): child for name, child in children.items()}
    try:
        yield
    finally:
        for module, children in renamed:
            module._modules = children


def count_gflops(module: BenchmarkedInference, inputs: Tensor) -> Dict[str, float]:
    """GFLOPs of the benchmarked inference, in total and per stage (by module).

    ``backbone_neck`` is the backbone and neck, ``mask_branch`` the ``roi_head.mask*`` modules,
    ``box_head`` the rest. On failure every value is NaN and ``flops_error`` gives the reason.
    """
    try:
        with torch.no_grad(), slash_free_module_names(module):
            analyzer = FlopAnalyzer(module, (inputs, ))
            analyzer.unsupported_ops_warnings(False)
            analyzer.uncalled_modules_warnings(False)
            analyzer.tracer_warnings('none')
            total = analyzer.total()
            by_module = analyzer.by_module()
    except Exception as error:  # any model the tracer cannot follow: report, don't stop
        nan = float('nan')
        return dict(gflops=nan, gflops_backbone_neck=nan, gflops_box_head=nan,
                    gflops_mask_branch=nan, flops_error=f'{type(error).__name__}: {error}')
    backbone_neck = by_module.get('detector.backbone', 0) + by_module.get('detector.neck', 0)
    mask_branch = sum(flops for name, flops in by_module.items()
                      if re.fullmatch(r'detector\.roi_head\.mask[^.]*', name))
    return dict(gflops=total / 1e9, gflops_backbone_neck=backbone_neck / 1e9,
                gflops_box_head=(total - backbone_neck - mask_branch) / 1e9,
                gflops_mask_branch=mask_branch / 1e9, flops_error=None)


def matmul_peak_gflops(dtype: torch.dtype, device: str, size: int = 2048,
                       repeats: int = 5) -> float:
    """The machine's matrix-product throughput in this process and thread count, GFLOP/s (two
    FLOPs per multiply-add): the best of ``repeats`` products of two ``size`` x ``size``
    matrices after one warm-up product."""
    synchronize = torch.cuda.synchronize if device == 'cuda' else (lambda: None)
    a, b = (torch.randn(size, size, device=device).to(dtype) for _ in range(2))
    a @ b
    best = float('inf')
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        a @ b
        synchronize()
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best / 1e9


def add_peak_fraction(row: dict, peaks: Dict[str, float]) -> None:
    """The row's achieved GFLOP/s (2 x its multiply-adds per median latency; mmengine counts a
    multiply-add as one FLOP) and its fraction of the matrix-product peak of its precision
    (bfloat16 for ``--fp16`` on CPU and the ``openvino-bf16`` backend)."""
    bf16 = row.get('backend') == 'openvino-bf16' or (row['fp16'] and row['device'] == 'cpu')
    precision = 'bf16' if bf16 else 'fp32'
    row['achieved_gflops_s'] = 2 * row['gflops'] / row['latency_s_median']
    row['peak_precision'] = precision
    row['peak_fraction'] = row['achieved_gflops_s'] / peaks[precision]


def read_proc_status_kb(field: str) -> int:
    """A ``/proc/self/status`` field in kB (e.g. ``VmRSS``, ``VmHWM``)."""
    status = Path('/proc/self/status').read_text()
    return int(re.search(rf'^{field}:\s+(\d+) kB', status, re.MULTILINE).group(1))


def reset_peak_memory(device: str) -> float:
    """Reset the peak memory counter; return the current memory (MB), NaN if unavailable.

    On CPU, freed heap memory is first handed back to the OS (glibc's ``malloc_trim``): pages
    that stay resident after earlier models would otherwise serve this model's allocations
    without raising the RSS.
    """
    if device == 'cuda':
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        return torch.cuda.memory_allocated() / 2**20
    gc.collect()
    libc = ctypes.CDLL(None)
    if hasattr(libc, 'malloc_trim'):
        libc.malloc_trim(0)
    try:
        Path('/proc/self/clear_refs').write_text('5')  # 5: reset the RSS high-water mark
        return read_proc_status_kb('VmRSS') / 1024
    except OSError:
        return float('nan')


def peak_memory(device: str) -> float:
    """Peak memory (MB) since :func:`reset_peak_memory`: allocated on CUDA, RSS on CPU (NaN
    without ``/proc``)."""
    if device == 'cuda':
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() / 2**20
    try:
        return read_proc_status_kb('VmHWM') / 1024
    except OSError:
        return float('nan')


def num_dets_policy(num_dets: int) -> str:
    """The sentence that says how many detections reach the mask branches."""
    if num_dets == 0:
        return ('Detections: every mask branch receives its own box head\'s detections '
                '(--num-dets 0).')
    return (f'Detections: every box head runs in full with its configured post-processing, '
            f'then its detections are replaced by the same {num_dets} fixed boxes (seeded, '
            f'spread over the image, {FIXED_BOX_MIN_SIDE:g} px to '
            f'{FIXED_BOX_MAX_SIDE_RATIO:.0%} of the shorter side, labels cycling through the '
            f'classes), which every mask branch receives (--num-dets {num_dets}).')


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
        if self.args.num_dets == 0 or not self.staged.with_mask:
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
            peak_mem_mb=max(self.peak_mems_mb),
            params_m=self.params_m,
            **self.flops)
        return row


def ratio(value: float, reference: float) -> str:
    """``value / reference`` formatted, ``-`` when undefined."""
    if not reference or math.isnan(value) or math.isnan(reference):
        return '-'
    return f'{value / reference:.2f}x'


def milliseconds(seconds: float) -> str:
    """Seconds as whole milliseconds, ``-`` when not measured (an exported row's stages)."""
    return '-' if math.isnan(seconds) else f'{seconds * 1e3:.0f}'


def percent(fraction: float) -> str:
    """A fraction as a whole percentage, ``-`` when unknown (FLOPs not counted)."""
    return '-' if math.isnan(fraction) else f'{fraction:.0%}'


def number(value: float) -> str:
    """A whole number, ``-`` when not measured."""
    return '-' if math.isnan(value) else f'{value:.0f}'


def run_settings(row: dict) -> str:
    """Threads, device and speed options of a row, e.g. ``2 threads, cpu, channels-last``."""
    options = dict(fp16='autocast', channels_last='channels-last', fuse_conv_bn='fused conv+BN')
    return ', '.join([f'{row["threads"]} threads', row['device'],
                      *(name for key, name in options.items() if row[key])])


def markdown_table(rows: List[dict], baseline: str) -> str:
    """The rows as a Markdown table with ratios to the baseline row, under a settings line and
    the detection count policy."""
    first = rows[0]
    reference = next(row for row in rows if row['config'] == baseline)
    height, width = first['input_size']
    lines = [
        f'Input {height}x{width}, {first["num_images"]} images (batch 1) after '
        f'{first["warmup"]} warm-up runs, configs taking turns image by image, '
        f'{run_settings(first)}; '
        f'medians (the minimum ratio is the one least disturbed by other load); ratios to '
        f'`{reference["name"]}`.',
        '',
        first['num_dets_policy'],
        '',
        f'Matrix-product peak of this process: {first["peak_gflops_s"]["fp32"]:.0f} GFLOP/s in '
        f'float32, {first["peak_gflops_s"]["bf16"]:.0f} in bfloat16; "of peak" is a model\'s '
        '2 x multiply-adds per median latency over the peak of its precision.',
        '',
        '| config | latency ms (min-max) | img/s | backbone+neck ms | box head ms | '
        'mask branch ms | mask RoIs | peak mem MB | params M | GFLOPs | of peak | latency ratio | '
        'min latency ratio | GFLOPs ratio |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ]
    for row in rows:
        lines.append(
            f'| {row["name"]} | {row["latency_s_median"] * 1e3:.0f} '
            f'({row["latency_s_min"] * 1e3:.0f}-{row["latency_s_max"] * 1e3:.0f}) | '
            f'{row["images_per_s"]:.2f} | {milliseconds(row["backbone_neck_s_median"])} | '
            f'{milliseconds(row["box_head_s_median"])} | '
            f'{milliseconds(row["mask_branch_s_median"])} | '
            f'{row["mask_branch_num_rois"]:g} | {number(row["peak_mem_mb"])} | '
            f'{row["params_m"]:.1f} | {row["gflops"]:.1f} | '
            f'{percent(row["peak_fraction"])} ({row["peak_precision"]}) | '
            f'{ratio(row["latency_s_median"], reference["latency_s_median"])} | '
            f'{ratio(row["latency_s_min"], reference["latency_s_min"])} | '
            f'{ratio(row["gflops"], reference["gflops"])} |')
    return '\n'.join(lines) + '\n'


def plot_stages(rows: List[dict], path: str) -> None:
    """A horizontal bar per config of its stacked median stage times (ms), saved with Agg."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 1.6 + 0.6 * len(rows)), layout='constrained')
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    names = [row['name'] for row in rows][::-1]
    left = np.zeros(len(rows))
    for stage in STAGES:
        widths = np.nan_to_num(np.array([row[f'{stage}_s_median'] * 1e3 for row in rows][::-1]))
        axes.barh(names, widths, left=left, label=STAGE_LABELS[stage])
        left += widths
    exported = np.array([row['latency_s_median'] * 1e3 if 'backend' in row else 0.0
                         for row in rows][::-1])
    if exported.any():
        axes.barh(names, exported, left=left, label='exported graph, end to end', hatch='//')
    first = rows[0]
    height, width = first['input_size']
    detections = (f'{first["num_dets"]} fixed detections' if first['num_dets']
                  else 'own detections')
    axes.set_xlabel('median time per image (ms)')
    figure.suptitle(f'{height}x{width} input, '
                    f'{run_settings(first)}; '
                    f'{detections} to the mask branches',
                    fontsize='medium')
    figure.legend(loc='outside lower center', ncols=len(STAGES) + 1)
    figure.savefig(path, dpi=100)


def main(argv: Optional[Sequence[str]] = None) -> List[dict]:
    """Benchmark the configs and write the outputs; return the rows."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # quiet init_weights reports
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
    return rows


if __name__ == '__main__':
    main()
