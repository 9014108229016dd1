"""Pure-Python ("lazy import") configs, shipped in the wheel.

Twins of classic configs in the repository's ``configs/`` that build the same models and training
set-ups. The mmdet wheel ships no ``mmdet/configs``, so ``_base_/`` here holds our own bases. Module
names use underscores only (``centermask_v2_39_fpn_ms_3x_coco.py`` for the classic
``centermask_v2-39_fpn_ms-3x_coco.py``): ``with read_base(): from .name import *`` must be valid
Python. The files are config files, not modules to import; run them like any config::

    CFGS=$(python -c "import mmdet_centermask.configs as c; print(c.__path__[0])")
    python tools/train.py $CFGS/centermask/centermask_r50_fpn_1x_coco.py
"""
