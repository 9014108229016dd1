"""Run a trained CenterMask (or any mmdet model) on a video or a webcam and write the annotated
video.

Example::

    python demo/video_demo.py clip.mp4 \\
        configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py \\
        work_dirs/centermask_demo/iter_360.pth --out clip_masks.mp4
    python demo/video_demo.py 0 CONFIG CHECKPOINT --show   # webcam 0, where a camera exists

Every frame goes through mmdet's ``DetInferencer`` (as ``image_demo.py``, whose
``--pred-score-thr`` and ``--cfg-options`` it shares); the output keeps the input's frame rate
and size.
"""
from argparse import ArgumentParser
from pathlib import Path

import cv2
from image_demo import add_model_arguments, build_inferencer


def parse_args():
    parser = ArgumentParser(description='Predict and draw instance masks on a video')
    parser.add_argument('video', help='a video file, or a camera index such as 0')
    add_model_arguments(parser)
    parser.add_argument('--out', help='the annotated video (.mp4 or .avi)')
    parser.add_argument('--show', action='store_true', help='show the frames in a window')
    args = parser.parse_args()
    if not (args.out or args.show):
        parser.error('nothing to do: give --out FILE, --show or both')
    return args


def open_video(source: str) -> cv2.VideoCapture:
    """A file, or a camera for an integer; a clear error when neither opens."""
    capture = cv2.VideoCapture(int(source) if source.isdigit() else source)
    if not capture.isOpened():
        what = f'camera {source}' if source.isdigit() else f'video file {source}'
        hint = '' if source.isdigit() or Path(source).is_file() else ' (no such file)'
        raise FileNotFoundError(f'cannot open the {what}{hint}')
    return capture


def main():
    args = parse_args()
    capture = open_video(args.video)
    inferencer = build_inferencer(args, show_progress=False)
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    writer, frames = None, 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        result = inferencer(frame, return_vis=True, no_save_vis=True,
                            pred_score_thr=args.pred_score_thr)
        drawn = cv2.cvtColor(result['visualization'][0], cv2.COLOR_RGB2BGR)
        if args.out:
            if writer is None:
                fourcc = cv2.VideoWriter_fourcc(*('MJPG' if args.out.endswith('.avi') else 'mp4v'))
                writer = cv2.VideoWriter(args.out, fourcc, fps, drawn.shape[1::-1])
            writer.write(drawn)
        if args.show:
            cv2.imshow('CenterMask', drawn)
            if cv2.waitKey(1) & 0xFF in (27, ord('q')):
                break
        frames += 1
    capture.release()
    if writer is not None:
        writer.release()
    if frames == 0:
        raise RuntimeError(f'no frame could be read from {args.video}')
    print(f'{frames} frames' + (f' written to {args.out}' if args.out else ''))


if __name__ == '__main__':
    main()
