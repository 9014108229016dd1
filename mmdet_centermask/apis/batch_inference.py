"""Offline batch inference: a plain loop over the images of an :class:`ImageSource` (read and
prepared by DataLoader workers while the model runs), each prediction stored the moment it is
made (:class:`PredictionStore`), then COCO results json written and evaluated by mmdet's
``CocoMetric``. Masks are COCO RLE from the paste on (``test_cfg.rcnn.mask_format='rle'``)."""
import copy
from pathlib import Path
from typing import Callable, Optional, Tuple

import mmcv
import numpy as np
import pycocotools.mask as mask_util
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.runner import load_checkpoint
from mmengine.utils import ProgressBar
from torch.utils.data import DataLoader

from mmdet.evaluation import CocoMetric
from mmdet.registry import DATASETS, MODELS
from mmdet.structures import DetDataSample
from mmdet.visualization import DetLocalVisualizer
from ..deployment import ExportedCenterMask
from ..models.detectors import CenterMask, PanopticCenterMask
from ..utils.checkpoint_check import check_checkpoint_fits
from .image_source import ImageSource, PipelineImages
from .prediction_store import PredictionStore, prediction_record

Predictor = Callable[[dict], DetDataSample]


def detector_class(cfg: Config) -> Optional[type]:
    """The class of the config's ``model.type`` (None where it is not registered)."""
    detector = cfg.model.type if isinstance(cfg.model.type, type) else MODELS.get(cfg.model.type)
    return detector if isinstance(detector, type) else None


def rle_config(cfg: Config) -> Config:
    """A copy of a CenterMask config whose masks are encoded as they are pasted."""
    detector = detector_class(cfg)
    if detector is None or not issubclass(detector, CenterMask) or issubclass(
            detector, PanopticCenterMask):
        raise ValueError(f'model.type={cfg.model.type!r}: batch inference runs CenterMask '
                         'configs (Panoptic-CenterMask and other mmdet models paste bitmaps)')
    cfg = copy.deepcopy(cfg)
    cfg.model.test_cfg.rcnn.mask_format = 'rle'
    return cfg


def config_classes(cfg: Config) -> Tuple[str, ...]:
    """The class names of the config's test dataset (its ``metainfo``, else its type's)."""
    dataset = cfg.test_dataloader.dataset
    classes = dataset.get('metainfo', {}).get('classes')
    return tuple(classes or DATASETS.get(dataset.type).METAINFO['classes'])


def build_predictor(cfg: Config, weights: str, backend: str = 'pytorch',
                    precision: str = 'fp32', num_threads: Optional[int] = None,
                    device: str = 'cpu',
                    panoptic: bool = False) -> Tuple[Predictor, Tuple[str, ...]]:
    """A function from a test-pipeline output to its prediction, and the class names.

    Args:
        cfg (Config): A CenterMask config (:func:`rle_config` is applied), or with ``panoptic``
            a Panoptic-CenterMask one (as it is: bitmap masks, which its fusion needs).
        weights (str): A checkpoint (``pytorch``), an exported ``.onnx`` or its int8 ``.xml``.
        backend (str): ``'pytorch'``, ``'onnxruntime'`` or ``'openvino'``.
        precision (str): ``'fp32'``, ``'bf16'`` or ``'int8'`` (OpenVINO; int8: the ``.xml`` of
            ``tools/deployment/quantize_openvino.py``).
        num_threads (int, optional): Threads of torch or of the backend.
        device (str): Device of the PyTorch model.
        panoptic (bool): Take Panoptic-CenterMask configs (PyTorch only: the exported graph is
            its instance branch).

    Raises:
        ValueError: A config that is not CenterMask's (nor, with ``panoptic``, one of
            Panoptic-CenterMask run by PyTorch).
    """
    detector = detector_class(cfg)
    is_panoptic = detector is not None and issubclass(detector, PanopticCenterMask)
    if not (panoptic and is_panoptic):
        cfg = rle_config(cfg)
    elif backend != 'pytorch':
        raise ValueError(f'backend={backend!r}: a Panoptic-CenterMask runs with PyTorch (its '
                         'exported graph is the instance branch, without the panoptic map)')
    if backend != 'pytorch':
        runtime = ExportedCenterMask(weights, cfg, backend, precision, num_threads)
        return runtime.predict_sample, config_classes(cfg)
    if num_threads:
        torch.set_num_threads(num_threads)
    model = MODELS.build(cfg.model)
    check_checkpoint_fits(model, weights, for_training=False)
    checkpoint = load_checkpoint(model, weights, map_location='cpu')
    # the classes the checkpoint was trained on, else the config's
    model.dataset_meta = checkpoint.get('meta', {}).get('dataset_meta') or dict(
        classes=config_classes(cfg))
    model.cfg = cfg
    model.to(device).eval()

    def predict(data: dict) -> DetDataSample:
        with torch.no_grad():
            return model.test_step(pseudo_collate([data]))[0]

    return predict, tuple(model.dataset_meta['classes'])


def keep_as_is(item: tuple) -> tuple:
    """The loader's collate function: one image at a time, no batching."""
    return item


def predict_images(predictor: Predictor, source: ImageSource, cfg: Config,
                   store: PredictionStore, num_workers: int = 1,
                   draw: Optional[Callable[[str, DetDataSample], None]] = None) -> int:
    """Predict the images of ``source`` that ``store`` does not hold yet, storing each as it
    is made; an unreadable image is stored as an error. Returns how many were predicted."""
    done = store.done()
    todo = [(img_id, path) for img_id, path in source.images if img_id not in done]
    if not todo:
        return 0
    loader = DataLoader(PipelineImages(todo, cfg), batch_size=None, num_workers=num_workers,
                        collate_fn=keep_as_is)
    paths = dict(todo)
    progress = ProgressBar(len(todo))
    for img_id, data in loader:
        if isinstance(data, str):
            store.add_error(img_id, data)
        else:
            sample = predictor(data)
            store.add(prediction_record(img_id, sample))
            if draw is not None:
                draw(paths[img_id], sample)
        progress.update()
    return len(todo)


def coco_results(store: PredictionStore, source: ImageSource, classes: Tuple[str, ...],
                 outfile_prefix: str) -> dict:
    """Write ``<prefix>.bbox.json`` and ``<prefix>.segm.json`` (COCO results, in the order of
    the source) with mmdet's ``CocoMetric``; its metrics where the source has annotations, else
    ``{}``."""
    records = {record['img_id']: record for record in store.records()}
    results = [dict(img_id=img_id, bboxes=np.array(r['bboxes'], np.float32).reshape(-1, 4),
                    scores=np.array(r['scores'], np.float32), labels=np.array(r['labels'], int),
                    masks=r.get('masks'), mask_scores=np.array(r.get('mask_scores', [])))
               for img_id, _ in source.images if (r := records.get(img_id)) is not None]
    metric = CocoMetric(ann_file=source.ann_file, metric=['bbox', 'segm'],
                        outfile_prefix=outfile_prefix)
    metric.dataset_meta = dict(classes=classes)
    if source.ann_file is not None:  # the ground truth comes from the ann file
        return metric.compute_metrics([(None, result) for result in results])
    metric.cat_ids = source.categories(classes)
    metric.results2json(results, outfile_prefix)
    return {}


def mask_drawer(classes: Tuple[str, ...], out_dir: str,
                score_thr: float) -> Callable[[str, DetDataSample], None]:
    """A function that draws a prediction on its image (mmdet's visualizer, the RLE masks
    decoded for this one image) into ``out_dir``."""
    visualizer = DetLocalVisualizer()
    visualizer.dataset_meta = dict(classes=classes, palette='random')
    Path(out_dir).mkdir(parents=True, exist_ok=True)

    def draw(path: str, sample: DetDataSample) -> None:
        image = mmcv.imread(path, channel_order='rgb')
        sample = sample.clone()
        rles = sample.pred_instances.masks
        masks = mask_util.decode(rles) if rles else np.zeros((*image.shape[:2], 0), np.uint8)
        sample.pred_instances.masks = torch.from_numpy(masks).permute(2, 0, 1).bool()
        visualizer.add_datasample(Path(path).stem, image, sample, draw_gt=False,
                                  pred_score_thr=score_thr,
                                  out_file=str(Path(out_dir) / Path(path).name))

    return draw
