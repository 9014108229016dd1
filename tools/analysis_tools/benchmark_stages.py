"""Inference run stage by stage, each stage timed, and its FLOPs counted per stage.

The stages are those of :data:`STAGES`: ``backbone_neck`` (``extract_feat``), ``box_head`` (the
dense box head and its post-processing, or the RPN plus the R-CNN box head; RTMDet-Ins's masks,
computed inside its box head, count here) and ``mask_branch`` (mask RoI extraction, mask head,
MaskIoU head and pasting; YOLACT's, SOLOv2's and CondInst's ``mask_head``; 0 without masks).
"""
import functools
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import torch
from mmengine.analysis import FlopAnalyzer
from mmengine.structures import InstanceData
from torch import Tensor, nn
from torch.profiler import record_function

from mmdet.models.dense_heads import RTMDetInsHead
from mmdet.models.detectors import BaseDetector, SingleStageDetector, TwoStageDetector
from mmdet.models.detectors.single_stage_instance_seg import SingleStageInstanceSegmentor
from mmdet.models.roi_heads.roi_extractors import BaseRoIExtractor
from mmdet.structures import SampleList

STAGES = ('backbone_neck', 'box_head', 'mask_branch')
STAGE_LABELS = {'backbone_neck': 'backbone+neck', 'box_head': 'box head',
                'mask_branch': 'mask branch'}
# families whose mask branch pools RoIs from given boxes, so that fixed boxes can be handed over
FIXED_BOX_FAMILIES = ('single-stage + mask branch', 'two-stage')


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
    """How the model predicts: ``'two-stage'`` (Mask R-CNN), ``'single-stage + mask branch'``
    (CenterMask), ``'single-stage'`` (FCOS), ``'single-stage, masks in the box head'``
    (RTMDet-Ins) or ``'instance segmentor'`` (YOLACT, SOLOv2, CondInst)."""
    if isinstance(model, TwoStageDetector):
        return 'two-stage'
    if isinstance(model, SingleStageInstanceSegmentor):
        return 'instance segmentor'
    if isinstance(model, SingleStageDetector):
        if getattr(model, 'roi_head', None) is not None:
            return 'single-stage + mask branch'
        if isinstance(model.bbox_head, RTMDetInsHead):
            return 'single-stage, masks in the box head'
        return 'single-stage'
    raise TypeError(f'{type(model).__name__} is not supported: the benchmark splits '
                    'SingleStageDetector (with or without a roi_head mask branch, e.g. FCOS, '
                    'CenterMask, RTMDet-Ins), SingleStageInstanceSegmentor (YOLACT, SOLOv2, '
                    'CondInst) and TwoStageDetector (e.g. Mask R-CNN) subclasses')


@dataclass
class RunRecord:
    """What one inference run measured.

    Attributes:
        stage_s (dict[str, float]): Seconds spent in each of :data:`STAGES`.
        box_head_num_dets (int): Detections the box head produced itself.
        mask_branch_num_rois (int): RoIs the mask RoI extractor received (0 without one).
        num_masks (int): Instances with a predicted mask in the output.
    """
    stage_s: Dict[str, float]
    box_head_num_dets: int
    mask_branch_num_rois: int
    num_masks: int


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
        self.takes_fixed_boxes = self.family in FIXED_BOX_FAMILIES
        self.with_roi_mask = self.takes_fixed_boxes and model.roi_head.with_mask
        self.with_mask = self.with_roi_mask or self.family in (
            'instance segmentor', 'single-stage, masks in the box head')
        self._num_rois = 0
        if self.with_roi_mask:
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
                rcnn_test_cfg=model.roi_head.test_cfg, rescale=not self.with_roi_mask)
        if self.family == 'instance segmentor':
            return model.bbox_head.predict(x, samples, rescale=False)
        return model.bbox_head.predict(x, samples, rescale=not self.with_roi_mask)

    def _predict_masks(self, x: Tuple[Tensor], samples: SampleList,
                       results: Optional[List[InstanceData]]) -> List[InstanceData]:
        """The mask branch on the given detections, masks pasted at the original size."""
        if self.family == 'instance segmentor':
            return self.model.mask_head.predict(x, samples, rescale=True, results_list=results)
        return self.model.roi_head.predict_mask(
            x, [sample.metainfo for sample in samples], results, rescale=True)

    def __call__(
        self, inputs: Tensor, samples: SampleList, detections: Optional[List[InstanceData]]
    ) -> Tuple[SampleList, List[InstanceData], RunRecord]:
        """Run inference.

        Args:
            inputs (Tensor): Preprocessed images (N, C, H, W).
            samples (list[:obj:`DetDataSample`]): Their samples with meta information.
            detections (list[:obj:`InstanceData`], optional): Detections per image that replace
                the box head's before the mask branch (only where ``takes_fixed_boxes``); None
                keeps the box head's.

        Returns:
            tuple: The samples with ``pred_instances``, the box head's own detections per image
            (empty without a box head) and the measurements (:class:`RunRecord`).
        """
        if detections is not None and not self.takes_fixed_boxes:
            raise ValueError(f'a {self.family} model ({type(self.model).__name__}) computes '
                             'its masks from its own detections: it cannot take fixed boxes')
        stage_s = dict.fromkeys(STAGES, 0.0)
        with self._timed(stage_s, 'backbone_neck'):
            x = self.model.extract_feat(inputs)
        box_results = None
        if getattr(self.model, 'with_bbox', True):  # SOLOv2 has no box head
            with self._timed(stage_s, 'box_head'):
                box_results = self._predict_boxes(x, samples)
        box_head_num_dets = sum(len(result) for result in box_results or [])
        results = box_results if detections is None else detections
        self._num_rois = 0
        if self.with_roi_mask or self.family == 'instance segmentor':
            with self._timed(stage_s, 'mask_branch'):
                results = self._predict_masks(x, samples, results)
        samples = self.model.add_pred_to_datasample(samples, results)
        num_masks = sum(len(result) for result in results) if self.with_mask else 0
        return samples, box_results or [], RunRecord(stage_s, box_head_num_dets,
                                                     self._num_rois, num_masks)


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


def count_gflops(module: BenchmarkedInference, inputs: Tensor) -> Dict[str, float]:
    """GFLOPs of the benchmarked inference, in total and per stage (by module).

    ``backbone_neck`` is the backbone and neck, ``mask_branch`` the ``roi_head.mask*`` modules or
    the ``mask_head``, ``box_head`` the rest. On failure every value is NaN and ``flops_error``
    gives the reason.
    """
    try:
        with torch.no_grad():
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
                      if re.fullmatch(r'detector\.(roi_head\.mask[^.]*|mask_head)', name))
    return dict(gflops=total / 1e9, gflops_backbone_neck=backbone_neck / 1e9,
                gflops_box_head=(total - backbone_neck - mask_branch) / 1e9,
                gflops_mask_branch=mask_branch / 1e9, flops_error=None)


