"""``demo/video_demo.py`` on a short clip it is given: every frame annotated, the clip's frame
count, size and rate kept; a missing file is named."""
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from helpers import REPO_ROOT, load_config, run_tool

from mmdet.registry import MODELS

CONFIG = 'centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py'
FRAMES, H, W, FPS = 4, 96, 128, 10.0


def write_clip(path: Path) -> None:
    """A short clip of a coloured square moving over noise."""
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*'mp4v'), FPS, (W, H))
    for i in range(FRAMES):
        frame = rng.integers(0, 80, (H, W, 3), dtype=np.uint8)
        frame[20:60, 10 + 15 * i:50 + 15 * i] = (40, 200, 40)
        writer.write(frame)
    writer.release()


def test_video_demo_annotates_every_frame(tmp_path: Path):
    clip, out = tmp_path / 'clip.mp4', tmp_path / 'clip_masks.mp4'
    write_clip(clip)
    cfg = load_config(CONFIG)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    checkpoint = tmp_path / 'random.pth'
    torch.save(dict(state_dict=model.state_dict(),
                    meta=dict(dataset_meta=dict(classes=cfg.metainfo['classes']))), checkpoint)
    output = run_tool([sys.executable, str(REPO_ROOT / 'demo' / 'video_demo.py'), str(clip),
                       str(REPO_ROOT / 'configs' / CONFIG), str(checkpoint), '--out', str(out),
                       '--pred-score-thr', '0'], cwd=tmp_path)
    assert f'{FRAMES} frames written to {out}' in output
    capture = cv2.VideoCapture(str(out))
    assert capture.get(cv2.CAP_PROP_FRAME_COUNT) == FRAMES
    assert (capture.get(cv2.CAP_PROP_FRAME_WIDTH), capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (W, H)
    assert capture.get(cv2.CAP_PROP_FPS) == FPS
    capture.release()


def test_video_demo_names_a_missing_file(tmp_path: Path):
    output = run_tool([sys.executable, str(REPO_ROOT / 'demo' / 'video_demo.py'),
                       str(tmp_path / 'nothing.mp4'), str(REPO_ROOT / 'configs' / CONFIG),
                       'x.pth', '--out', 'y.mp4'], cwd=tmp_path, check=False)
    assert 'cannot open the video file' in output and '(no such file)' in output
