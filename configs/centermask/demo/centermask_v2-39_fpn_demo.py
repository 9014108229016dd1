# CenterMask V2-39 on the bundled demo data: the larger twin of
# centermask-lite_v2-19-slim-dw_fpn_demo.py, whose data, classes, input size and schedule it keeps.
# Its model is that of centermask_v2-39_fpn_ms-3x_coco.py (from which the Lite configs descend):
# the V-39 backbone, a 256-channel FPN, 4+4 FCOS tower convs and 4-conv SAG-Mask and MaskIoU heads
# (the widths the Lite configs narrow to 128). Run it with
# `python tools/run_demo.py --config configs/centermask/demo/centermask_v2-39_fpn_demo.py`.
_base_ = './centermask-lite_v2-19-slim-dw_fpn_demo.py'
custom_imports = dict(
    imports=['mmdet_centermask', 'mmdet_centermask.compat'], allow_failed_imports=False)

channels = 256
model = dict(
    backbone=dict(arch='V-39'),
    neck=dict(in_channels=[512, 768, 1024], out_channels=channels),
    bbox_head=dict(in_channels=channels, feat_channels=channels, stacked_convs=4),
    roi_head=dict(
        mask_roi_extractor=dict(out_channels=channels),
        mask_head=dict(num_convs=4, in_channels=channels, conv_out_channels=channels),
        mask_iou_head=dict(num_convs=4, in_channels=channels, conv_out_channels=channels),
    ),
)
