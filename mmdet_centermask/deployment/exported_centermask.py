from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from ..utils import image_test_pipeline
from .backends import BACKENDS, PRECISIONS


class ExportedCenterMask:
    """Run a CenterMask exported by :func:`export_onnx` with onnxruntime or OpenVINO and return
    mmdet's :class:`DetDataSample` s, as :meth:`CenterMask.predict` does.

    The config's test pipeline (without its annotation loading) and data preprocessor prepare
    each image; after the graph, the detections without a score are dropped and
    :meth:`CenterMaskRoIHead.finalize_detections` rescales, clips, drops empty boxes and pastes
    the masks (mmdeploy also pastes after the graph).

    Args:
        onnx_file (str): The exported model: the ``.onnx``, or for ``int8`` the ``.xml`` that
            :func:`quantize_openvino` made of it.
        config (str or Config): The config it was exported from.
        backend (str): ``'onnxruntime'`` (CPU execution provider) or ``'openvino'`` (CPU).
        precision (str): ``'fp32'``, ``'bf16'`` or ``'int8'`` (OpenVINO only). bf16: its CPU
            plugin computes in bfloat16 where the CPU has AMX or AVX-512 BF16 (fp32 is asked for
            explicitly, since OpenVINO's default on such CPUs is bfloat16). int8: the quantized
            network in int8 (VNNI, AMX), its post-processing in fp32.
        num_threads (int, optional): Threads of the backend. Defaults to its choice.

    Raises:
        ValueError: An unknown backend or precision, bf16 or int8 with onnxruntime, int8 of a
            model that is not quantized, or a quantized model in another precision.
    """

    def __init__(self, onnx_file: str, config: Union[str, Config],
                 backend: str = 'onnxruntime', precision: str = 'fp32',
                 num_threads: Optional[int] = None) -> None:
        if backend not in BACKENDS or precision not in PRECISIONS[backend]:
            raise ValueError(f'backend={backend!r}, precision={precision!r}: expected one of '
                             + ', '.join(f'{b} ({"/".join(p)})' for b, p in PRECISIONS.items()))
        cfg = Config.fromfile(config) if isinstance(config, str) else config
        init_default_scope(cfg.get('default_scope', 'mmdet'))
        self.session = BACKENDS[backend](onnx_file, precision, num_threads)
        self.file_pipeline = Compose(image_test_pipeline(cfg))
        self.array_pipeline = Compose(image_test_pipeline(cfg, from_array=True))
        self.data_preprocessor = MODELS.build(cfg.model.data_preprocessor)
        roi_head = dict(cfg.model.roi_head, test_cfg=cfg.model.test_cfg.rcnn)
        self.roi_head = MODELS.build(roi_head)
        self.num_classes = cfg.model.bbox_head.num_classes

    @staticmethod
    def graph_inputs(inputs: torch.Tensor, img_shape: Sequence[int]) -> List[np.ndarray]:
        """The graph's inputs as the engines take them: ``inputs`` and the int64 ``(h, w)``."""
        return [inputs.numpy(), np.asarray(img_shape[:2], dtype=np.int64)]

    def run_graph(self, inputs: torch.Tensor,
                  img_shape: Sequence[int]) -> Tuple[InstanceData, torch.Tensor]:
        """The graph's detections that have a score (in input-image pixels) and their mask
        logits."""
        expected = self.session.input_size
        if expected is not None and list(inputs.shape[2:]) != list(expected):
            raise ValueError(f'the exported graph takes inputs of {expected[0]}x{expected[1]} '
                             f'only, this image is {inputs.shape[2]}x{inputs.shape[3]} after the '
                             'test pipeline: export with --dynamic')
        outputs = self.session(*self.graph_inputs(inputs, img_shape))
        boxes, scores, labels, mask_logits, mask_scores = map(torch.from_numpy, outputs)
        found = scores > 0
        return InstanceData(bboxes=boxes[found], scores=scores[found], labels=labels[found],
                            mask_scores=mask_scores[found]), mask_logits[found]

    def preprocess(self, data: dict) -> Tuple[torch.Tensor, DetDataSample]:
        """The graph's ``inputs`` and the sample of one test-pipeline output, as the data
        preprocessor makes them."""
        batch = self.data_preprocessor(
            dict(inputs=[data['inputs']], data_samples=[data['data_samples']]), False)
        return batch['inputs'], batch['data_samples'][0]

    def predict_sample(self, data: dict) -> DetDataSample:
        """One image as the test pipeline gives it (``inputs``, ``data_samples``)."""
        inputs, sample = self.preprocess(data)
        results, mask_logits = self.run_graph(inputs, sample.img_shape)
        # the mask head picks each detection's label channel: one channel, viewed for all
        mask_preds = mask_logits[:, None].expand(-1, self.num_classes, -1, -1)
        sample.pred_instances = self.roi_head.finalize_detections(
            results, mask_preds, sample.metainfo, rescale=True)
        return sample

    def __call__(self, images: Sequence[Union[str, np.ndarray]]) -> List[DetDataSample]:
        """Detections of image files or BGR arrays, at their original size."""
        return [self.predict_sample(self.file_pipeline(dict(img_path=image, img_id=0))
                                    if isinstance(image, str) else
                                    self.array_pipeline(dict(img=image, img_id=0)))
                for image in images]
