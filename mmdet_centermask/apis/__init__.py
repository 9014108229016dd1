"""Batch inference over many images (as ``mmdet.apis``): predictions stored as they are made,
resumable, written as COCO results json."""
from .batch_inference import (build_predictor, coco_results, config_classes, mask_drawer,
                              predict_images, rle_config)
from .image_source import ImageSource, PipelineImages
from .prediction_store import PredictionStore, prediction_record

__all__ = [
    'ImageSource', 'PipelineImages', 'PredictionStore', 'build_predictor', 'coco_results',
    'config_classes', 'mask_drawer', 'predict_images', 'prediction_record', 'rle_config'
]
