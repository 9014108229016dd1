"""Checked converters from centermask2, detectron2 and timm checkpoints to mmdet ones; the
command-line tools in ``tools/model_converters`` are thin wrappers around them."""
from .centermask2 import centermask2_to_mmdet_keys, convert_centermask2, infer_centermask_parts
from .common import (Conversion, ConversionError, add_partial_arguments, config_model_shapes,
                     load_source_state_dict, run_conversion, save_checkpoint)
from .mobilenet_v2 import centermask2_to_mobilenet_v2_keys, convert_mobilenet_v2
from .vovnet import (convert_vovnet, detect_vovnet_layout, fill_identity_ese,
                     select_vovnet_config, timm_to_vovnet_keys)

__all__ = [
    'Conversion', 'ConversionError', 'add_partial_arguments', 'run_conversion',
    'centermask2_to_mmdet_keys', 'config_model_shapes',
    'centermask2_to_mobilenet_v2_keys', 'convert_centermask2', 'convert_mobilenet_v2',
    'convert_vovnet', 'detect_vovnet_layout', 'fill_identity_ese',
    'infer_centermask_parts', 'load_source_state_dict', 'save_checkpoint', 'select_vovnet_config',
    'timm_to_vovnet_keys'
]
