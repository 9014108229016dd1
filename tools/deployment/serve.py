"""Serve a CenterMask over HTTP with Ray Serve (``pip install "mmdet-centermask[serve]"``).

Example::

    python tools/deployment/serve.py \\
        configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py \\
        work_dirs/centermask_demo/iter_360.pth --replicas 2
    curl --data-binary @photo.jpg -H 'Content-Type: image/jpeg' http://127.0.0.1:8000/predict

``POST /predict`` with an image file as the body answers ``height``, ``width``, ``bboxes`` (xyxy,
original pixels), ``labels``, ``classes``, ``scores``, ``mask_scores`` and ``masks`` (COCO RLE at
the original size), and for a Panoptic-CenterMask ``panoptic_segments``; a bad request gets a 4xx with ``{"error": ...}``, and more requests than the
replicas hold and queue a 503. ``GET /health`` answers once a replica is up. The same app runs on
a Ray cluster: start the script on the head node with ``--address auto``. Ctrl-C or SIGTERM
stops it.
"""
import argparse
import signal
import sys

import ray
from mmengine.config import DictAction
from ray import serve

from mmdet_centermask.deployment import PRECISION_CHOICES
from mmdet_centermask.serving.deployment import CenterMaskDeployment


def parse_args(args=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Serve a CenterMask with Ray Serve')
    parser.add_argument('config', help='a CenterMask config')
    parser.add_argument('weights', help='checkpoint (.pth) or exported graph (.onnx)')
    parser.add_argument('--backend', default='pytorch',
                        choices=['pytorch', 'onnxruntime', 'openvino'])
    parser.add_argument('--precision', default='fp32', choices=PRECISION_CHOICES,
                        help='bf16: OpenVINO only; int8: the .xml of '
                        'tools/deployment/quantize_openvino.py')
    parser.add_argument('--threads', type=int, default=1, help='CPU threads of each replica')
    parser.add_argument('--replicas', type=int, default=1)
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=8000)
    parser.add_argument('--address', default=None, help="a Ray cluster ('auto': this node's)")
    parser.add_argument('--max-batch-size', type=int, default=4)
    parser.add_argument('--batch-wait-ms', type=float, default=10.0)
    parser.add_argument('--max-ongoing-requests', type=int, default=8,
                        help='requests a replica holds at once')
    parser.add_argument('--max-queued-requests', type=int, default=32,
                        help='requests waiting for a replica; beyond: 503')
    parser.add_argument('--max-image-mb', type=float, default=20.0)
    parser.add_argument('--max-pixels', type=int, default=50_000_000)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(args)


def main(args: argparse.Namespace) -> None:
    ray.init(address=args.address, include_dashboard=False)
    serve.start(http_options=dict(host=args.host, port=args.port))
    deployment = CenterMaskDeployment.options(
        num_replicas=args.replicas, max_ongoing_requests=args.max_ongoing_requests,
        max_queued_requests=args.max_queued_requests,
        ray_actor_options=dict(num_cpus=args.threads))
    app = deployment.bind(args.config, args.weights, args.backend, args.precision, args.threads,
                          args.cfg_options, int(args.max_image_mb * 2**20), args.max_pixels,
                          args.max_batch_size, args.batch_wait_ms / 1000)
    # SIGTERM as Ctrl-C: Serve and Ray shut down with the script
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        serve.run(app, route_prefix='/', blocking=False)
        print(f'serving at http://{args.host}:{args.port}/predict', flush=True)
        signal.pause()
    finally:
        serve.shutdown()
        ray.shutdown()


if __name__ == '__main__':
    main(parse_args())
