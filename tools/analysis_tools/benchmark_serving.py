"""Throughput and latency of ``tools/deployment/serve.py`` against the same predictor in a plain
loop in this process, on the same images and threads.

First the in-process loop (``mmdet_centermask.apis.build_predictor``, the image files read and
prepared by the config's test pipeline, batch 1) predicts every image ``--repeats`` times; then
this process starts the server (one replica with the same threads) and loads it from 1, 4 and 16
concurrent clients (threads of this process, each sending the image files in turn, ``--requests``
requests per concurrency). Throughput is images per second over the whole run; latency is each
request's, send to answer. The CPU seconds of each request are split between the replica, the
rest of the server (Ray's HTTP proxy, controller and raylet) and the clients (this process).
With ``--evaluate`` (``images`` a COCO json with annotations), every
image is also predicted once in process and once through the server, and both are evaluated with
mmdet's ``CocoMetric``: the served mAP against the offline one.

Example::

    python tools/analysis_tools/benchmark_serving.py \\
        configs/centermask/centermask-lite_v2-19-slim-dw_fpn_ms-4x_coco.py model.onnx \\
        data/centermask_demo/val --backend openvino --threads 2
"""
import argparse
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List, Tuple

import mmdet_centermask  # noqa: F401 (registers our models)
import psutil
from mmcv.transforms import Compose
from mmengine.config import Config, DictAction
from mmengine.registry import init_default_scope

from mmdet_centermask.apis import (ImageSource, PredictionStore, build_predictor, coco_results,
                                   predict_images)
from mmdet_centermask.deployment import PRECISION_CHOICES
from mmdet_centermask.utils import image_test_pipeline

ROOT = Path(__file__).parents[2]


def parse_args(args: List[str] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Served against in-process throughput')
    parser.add_argument('config')
    parser.add_argument('weights', help='checkpoint or exported .onnx')
    parser.add_argument('images', help='a folder of images, a .txt list or a COCO json')
    parser.add_argument('--img-dir', default=None, help='folder of a COCO json\'s file names')
    parser.add_argument('--backend', default='pytorch',
                        choices=['pytorch', 'onnxruntime', 'openvino'])
    parser.add_argument('--precision', default='fp32', choices=PRECISION_CHOICES,
                        help='bf16: OpenVINO only; int8: the .xml of '
                        'tools/deployment/quantize_openvino.py')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--num-images', type=int, default=10, help='images of the input used')
    parser.add_argument('--repeats', type=int, default=4, help='in-process passes over them')
    parser.add_argument('--requests', type=int, default=40, help='requests per concurrency')
    parser.add_argument('--concurrency', type=int, nargs='+', default=[1, 4, 16])
    parser.add_argument('--max-batch-size', type=int, default=4)
    parser.add_argument('--evaluate', action='store_true',
                        help='COCO mAP of all the images, in process and served')
    parser.add_argument('--out-md', help='also write the table to this file')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='key=value overrides, for both (as --cfg-options of tools/test.py)')
    return parser.parse_args(args)


def in_process(args: argparse.Namespace, paths: List[str], source: ImageSource,
               work_dir: str) -> Tuple[Dict[str, float], dict]:
    """Images per second and CPU ms per image of the predictor in a plain loop (pipeline
    included), and with ``--evaluate`` its COCO metrics on all of ``source``."""
    cfg = Config.fromfile(args.config)
    options = argparse.ArgumentParser()
    options.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    cfg.merge_from_dict(options.parse_args(['--cfg-options', *args.cfg_options] if
                                           args.cfg_options else []).cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    predictor, classes = build_predictor(cfg, args.weights, args.backend, args.precision,
                                         args.threads)
    pipeline = Compose(image_test_pipeline(cfg))
    predictor(pipeline(dict(img_path=paths[0], img_id=0)))  # warm-up
    cpu_start, start = cpu_seconds(0)['clients'], time.perf_counter()
    for _ in range(args.repeats):
        for path in paths:
            predictor(pipeline(dict(img_path=path, img_id=0)))
    count = args.repeats * len(paths)
    timing = dict(images_per_s=count / (time.perf_counter() - start),
                  cpu_ms=1000 * (cpu_seconds(0)['clients'] - cpu_start) / count)
    if not args.evaluate:
        return timing, {}
    store = PredictionStore(Path(work_dir) / 'offline.jsonl')
    predict_images(predictor, source, cfg, store, num_workers=0)
    return timing, coco_results(store, source, classes, f'{work_dir}/offline')


def served_metrics(url: str, source: ImageSource, work_dir: str) -> dict:
    """COCO metrics of the server's answers for every image of ``source``."""
    store = PredictionStore(Path(work_dir) / 'served.jsonl')
    for img_id, path in source.images:
        served = answer(url, Path(path).read_bytes())
        store.add(dict(img_id=img_id, **{key: served[key] for key in (
            'bboxes', 'scores', 'labels', 'masks', 'mask_scores')}))
    return coco_results(store, source, tuple(answer_classes(url)), f'{work_dir}/served')


def answer_classes(url: str) -> List[str]:
    """The class names the server's ``/health`` gives."""
    with urllib.request.urlopen(url.replace('/predict', '/health'), timeout=60) as response:
        return json.loads(response.read())['classes']


def start_server(args: argparse.Namespace, port: int) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / 'tools' / 'deployment' / 'serve.py'), args.config,
               args.weights, '--backend', args.backend, '--precision', args.precision,
               '--threads', str(args.threads), '--port', str(port), '--max-batch-size',
               str(args.max_batch_size), '--max-ongoing-requests', str(max(args.concurrency)),
               '--max-queued-requests', str(4 * max(args.concurrency))]
    if args.cfg_options:
        command += ['--cfg-options', *args.cfg_options]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while True:
        if server.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f'the server did not start: {" ".join(command)}')
        try:
            urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=5)
            return server
        except OSError:
            time.sleep(0.5)


def answer(url: str, body: bytes) -> dict:
    """The server's answer for an image file (which must be a 200)."""
    request = urllib.request.Request(url, data=body, method='POST',
                                     headers={'Content-Type': 'application/octet-stream'})
    with urllib.request.urlopen(request, timeout=300) as response:
        return json.loads(response.read())


def post(url: str, body: bytes) -> float:
    """Seconds from sending an image to its answer."""
    start = time.perf_counter()
    answer(url, body)
    return time.perf_counter() - start


def cpu_seconds(server_pid: int) -> Dict[str, float]:
    """CPU seconds (user + system) so far of the server's replica processes (Ray names them
    ``ServeReplica``), of its other processes, and of this process (the clients)."""
    seconds = dict(replica=0.0, server=0.0, clients=0.0)
    this = psutil.Process()
    seconds['clients'] = sum(this.cpu_times()[:2])
    if not server_pid:  # no server process to account
        return seconds
    try:
        server = psutil.Process(server_pid)
        processes = [server] + server.children(recursive=True)
    except psutil.NoSuchProcess:
        return seconds
    for process in processes:
        try:
            used = sum(process.cpu_times()[:2])
            replica = 'ServeReplica' in ' '.join(process.cmdline())
        except psutil.NoSuchProcess:
            continue
        seconds['replica' if replica else 'server'] += used
    return seconds


def load_test(url: str, bodies: List[bytes], requests: int, concurrency: int,
              server_pid: int = 0) -> Dict:
    post(url, bodies[0])  # warm-up
    before = cpu_seconds(server_pid)
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(lambda i: post(url, bodies[i % len(bodies)]), range(requests)))
    elapsed = time.perf_counter() - start
    after = cpu_seconds(server_pid)
    quantiles = statistics.quantiles(latencies, n=20)
    return dict(concurrency=concurrency, images_per_s=requests / elapsed,
                p50_ms=1000 * statistics.median(latencies), p95_ms=1000 * quantiles[18],
                **{f'{part}_cpu_ms': 1000 * (after[part] - before[part]) / requests
                   for part in before})


def main(args: argparse.Namespace) -> List[Dict]:
    source = ImageSource(args.images, args.img_dir)
    if args.evaluate and source.ann_file is None:
        raise SystemExit(f'--evaluate: {args.images} is no COCO json with annotations')
    paths = [path for _, path in source.images[:args.num_images]]
    bodies = [Path(path).read_bytes() for path in paths]
    work_dir = tempfile.mkdtemp(prefix='benchmark_serving_')
    timing, offline = in_process(args, paths, source, work_dir)
    baseline = timing['images_per_s']
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    server = start_server(args, port)
    url = f'http://127.0.0.1:{port}/predict'
    try:
        rows = [load_test(url, bodies, args.requests, c, server.pid) for c in args.concurrency]
        served = served_metrics(url, source, work_dir) if args.evaluate else {}
    finally:
        server.terminate()
        server.wait(120)
    lines = [f'{Path(args.config).stem} [{args.backend} {args.precision}], {len(paths)} images '
             f'of {args.images}, {args.threads} threads; in-process loop {baseline:.2f} '
             f'images/s, {timing["cpu_ms"]:.0f} CPU ms per image', '', '| clients | served images/s | ratio to in-process | p50 ms | p95 ms '
             '| CPU ms per request: replica / rest of the server / clients |',
             '|---|---|---|---|---|---|']
    for row in rows:
        lines.append(f"| {row['concurrency']} | {row['images_per_s']:.2f} | "
                     f"{row['images_per_s'] / baseline:.2f}x | {row['p50_ms']:.0f} | "
                     f"{row['p95_ms']:.0f} | {row['replica_cpu_ms']:.0f} / "
                     f"{row['server_cpu_ms']:.0f} / {row['clients_cpu_ms']:.0f} |")
    if args.evaluate:
        lines += ['', f'COCO metrics on all {len(source.images)} images of {args.images}:', '',
                  '| | bbox mAP | segm mAP |', '|---|---|---|']
        for name, metrics in (('in process', offline), ('served', served)):
            lines.append(f"| {name} | {metrics['bbox_mAP']:.3f} | "
                         f"{metrics['segm_mAP']:.3f} |")
    table = '\n'.join(lines)
    print(table)
    if args.out_md:
        Path(args.out_md).write_text(table + '\n')
    return rows


if __name__ == '__main__':
    main(parse_args())
