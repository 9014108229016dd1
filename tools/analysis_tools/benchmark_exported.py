"""Rows of ``benchmark.py --backend``: a CenterMask exported to ONNX (the same random or loaded
weights as its PyTorch row) and run by onnxruntime or OpenVINO, end to end with the mask pasting.

The graph computes backbone, FPN, FCOS with its post-processing and the mask branch on its
``max_per_img`` best boxes in one call, so only the total latency is measured (the stage columns
are empty). For the same work as the PyTorch rows, the masks of ``--num-dets`` detections are
pasted into the same fixed boxes the PyTorch mask branches get (with ``--num-dets 0``: the graph's
own detections). GFLOPs, parameters are the PyTorch model's (the same network). ``openvino-int8``
quantizes the graph with NNCF (``quantize_openvino``) calibrated on the benchmark's own images: its
speed does not depend on which images calibrate it (its accuracy: ``tools/deployment/test_onnx.py``
on a trained checkpoint).
"""
import os
import statistics
import tempfile
import time
from typing import List

import torch

from mmdet_centermask.deployment import ExportedCenterMask, export_onnx, quantize_openvino

# --backend names: (engine, precision)
EXPORTED_BACKENDS = {
    'onnxruntime': ('onnxruntime', 'fp32'),
    'openvino-fp32': ('openvino', 'fp32'),
    'openvino-bf16': ('openvino', 'bf16'),
    'openvino-int8': ('openvino', 'int8'),
}


class ExportedBenchmark:
    """One exported model's measurements, beside the :class:`ConfigBenchmark` it comes from.

    Args:
        source (ConfigBenchmark): The PyTorch benchmark of the config (model, batches, args).
        backend (str): A key of :data:`EXPORTED_BACKENDS`.
    """

    def __init__(self, source, backend: str) -> None:
        self.source = source
        self.backend = backend
        args = source.args
        inputs, _ = source.batches[0]
        self.onnx_dir = tempfile.TemporaryDirectory()
        onnx_file = os.path.join(self.onnx_dir.name, 'model.onnx')
        export_onnx(source.model, onnx_file, input_size=inputs.shape[-2:], dynamic=False)
        engine, precision = EXPORTED_BACKENDS[backend]
        if precision == 'int8':
            calibration = [ExportedCenterMask.graph_inputs(inputs, samples[0].img_shape)
                           for inputs, samples in source.batches]
            onnx_file = quantize_openvino(onnx_file, calibration, None,
                                          onnx_file.replace('.onnx', '_int8.xml'),
                                          len(calibration))
        self.runtime = ExportedCenterMask(onnx_file, source.cfg, engine, precision,
                                          args.threads)
        self.latencies: List[float] = []
        self.num_dets: List[int] = []

    def run(self, image_index: int, timed: bool) -> None:
        """Run the graph on one image and paste its masks; keep the latency when ``timed``."""
        inputs, samples = self.source.batches[image_index]
        fixed = self.source.make_detections()
        start = time.perf_counter()
        if fixed is None:
            results, mask_logits = self.runtime.run_graph(inputs, samples[0].img_shape)
        else:  # the graph's masks pasted into the boxes the PyTorch rows paste into
            outputs = self.runtime.session(
                *self.runtime.graph_inputs(inputs, samples[0].img_shape))
            count = min(len(fixed[0]), len(outputs[3]))
            results = fixed[0][:count]
            results.mask_scores = torch.from_numpy(outputs[4][:count])
            mask_logits = torch.from_numpy(outputs[3][:count])
        mask_preds = mask_logits[:, None].expand(-1, self.runtime.num_classes, -1, -1)
        results = self.runtime.roi_head.finalize_detections(results, mask_preds,
                                                            samples[0].metainfo, rescale=True)
        latency = time.perf_counter() - start
        if timed:
            self.latencies.append(latency)
            self.num_dets.append(len(results))

    def row(self) -> dict:
        """The PyTorch row's description with this backend's latency."""
        row = dict(self.source.row())
        latencies = self.latencies
        row.update(
            name=f'{row["name"]} [{self.backend}]',
            backend=self.backend,
            latency_s_median=statistics.median(latencies),
            latency_s_min=min(latencies),
            latency_s_max=max(latencies),
            latencies_s=latencies,
            images_per_s=len(latencies) / sum(latencies),
            box_head_num_dets=statistics.median(self.num_dets),
            mask_branch_num_rois=self.source.model.test_cfg['bbox']['max_per_img'],
            num_masks=statistics.median(self.num_dets),
            peak_mem_mb=float('nan'))
        for key in list(row):  # one graph: no stage split
            if key.endswith(('_s_median', '_s_min')) and not key.startswith('latency_'):
                row[key] = float('nan')
        return row
