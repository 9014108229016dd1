"""``tools/deployment/serve.py`` (Ray Serve) end to end, the server started once for the module:
the served answer is the offline one (``tools/batch_inference.py`` on the same image file), every
bad request gets its 4xx and a message while the server keeps serving, more concurrent requests
than the replica holds and queues get 503 (none hangs), and a replica killed mid-request fails
that request with an error and is restarted.

The tiny CenterMask-R18 (``tests/data/configs``) with seeded initial weights and no score
threshold, one replica of one thread, limits small enough for test images: 50 KB, 40,000 pixels.
"""
import io
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Tuple

import numpy as np
import pycocotools.mask as mask_util
import pytest
from mmdet_centermask.testing import (REPO_ROOT, ToolRun, free_port,
                                      save_initialised_checkpoint, write_tiny_coco)
from PIL import Image

pytest.importorskip('ray.serve', reason='the serve extra (ray[serve]) is not installed')

CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'centermask_r18_tiny-coco.py'
OPTIONS = ['--cfg-options', 'model.test_cfg.bbox.score_thr=0.0',
           'model.test_cfg.bbox.max_per_img=5']
MAX_BYTES = 50 * 1024
MAX_PIXELS = 40_000



def post(url: str, body: bytes, content_type: str = 'image/jpeg',
         timeout: float = 60) -> Tuple[int, dict]:
    """Status and json answer of a POST."""
    request = urllib.request.Request(url, data=body, method='POST',
                                     headers={'Content-Type': content_type} if content_type else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        text = error.read()
        try:
            return error.code, json.loads(text)
        except ValueError:
            return error.code, dict(text=text.decode(errors='replace'))


def health(url: str) -> dict:
    with urllib.request.urlopen(f'{url}/health', timeout=10) as response:
        return json.loads(response.read())


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format='PNG')
    return buffer.getvalue()


@pytest.fixture(scope='module')
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp('serving')
    write_tiny_coco(root / 'data' / 'tiny_coco')
    save_initialised_checkpoint(CONFIG, root / 'random.pth')
    return root


@pytest.fixture(scope='module')
def server(workspace: Path):
    """The server's URL once ``/health`` answers; the offline run of image 0001 starts beside
    it. SIGTERM at the end."""
    port = free_port()
    run = ToolRun([sys.executable, str(REPO_ROOT / 'tools' / 'deployment' / 'serve.py'),
                   str(CONFIG), 'random.pth', '--port', str(port), '--max-image-mb',
                   str(MAX_BYTES / 2**20), '--max-pixels', str(MAX_PIXELS),
                   '--max-ongoing-requests', '1', '--max-queued-requests', '1', *OPTIONS],
                  cwd=workspace, timeout=600)
    (workspace / 'one').mkdir()
    (workspace / 'one' / '0001.jpg').write_bytes(
        (workspace / 'data' / 'tiny_coco' / 'images' / '0001.jpg').read_bytes())
    offline = ToolRun([sys.executable, str(REPO_ROOT / 'tools' / 'batch_inference.py'),
                       str(CONFIG), 'random.pth', 'one', '--out-dir', 'offline', *OPTIONS],
                      cwd=workspace)
    url = f'http://127.0.0.1:{port}'
    deadline = time.monotonic() + 240
    while True:
        assert run.process.poll() is None, run.output(check=False)[-4000:]
        assert time.monotonic() < deadline, 'the server did not answer /health within 240 s'
        try:
            health(url)
            break
        except (OSError, ValueError):
            time.sleep(0.5)
    offline.output()
    yield url
    # Serve and Ray shut down in the background (seconds); the test process's exit kills
    # whatever is left of them (ToolRun)
    run.process.send_signal(signal.SIGTERM)


def image_bytes(workspace: Path, name: str = '0001.jpg') -> bytes:
    return (workspace / 'data' / 'tiny_coco' / 'images' / name).read_bytes()


def test_served_answer_is_the_offline_prediction(server: str, workspace: Path) -> None:
    status, answer = post(f'{server}/predict', image_bytes(workspace))
    assert status == 200, answer
    record = json.loads((workspace / 'offline' / 'predictions.jsonl').read_text())
    del record['img_id']
    assert (answer['height'], answer['width']) == (128, 128)
    assert answer['classes'] == [('square', 'bar')[label] for label in answer['labels']]
    assert {key: answer[key] for key in record} == record
    masks = mask_util.decode(answer['masks'])
    assert masks.shape == (128, 128, len(answer['labels'])) and masks.any()
    # the client: the same answer, and a refused image named with its status (exit 1)
    (workspace / 'empty.png').write_bytes(b'')
    client = ToolRun([sys.executable, str(REPO_ROOT / 'tools' / 'deployment' / 'serve_client.py'),
                      'one/0001.jpg', 'empty.png', '--url', server, '--out', 'answers.json'],
                     cwd=workspace)
    output = client.output(check=False)
    assert client.returncode == 1
    assert f'one/0001.jpg: {len(answer["labels"])} detections' in output
    assert 'empty.png: 400 empty body: send an image file' in output
    assert json.loads((workspace / 'answers.json').read_text())['one/0001.jpg'] == answer


@pytest.mark.parametrize('case,content_type,status,message', [
    ('empty', 'image/jpeg', 400, 'empty body'),
    ('text', 'text/plain', 415, "content type 'text/plain'"),
    ('not an image', 'image/jpeg', 400, 'is not an image'),
    ('truncated', 'image/jpeg', 400, 'the image cannot be decoded'),
    ('too many bytes', 'image/png', 413, f'the server takes images of at most {MAX_BYTES} bytes'),
    ('too many pixels', 'image/png', 413, f'at most {MAX_PIXELS} pixels'),
])
def test_bad_request_gets_its_status_and_the_server_keeps_serving(
        server: str, workspace: Path, case: str, content_type: str, status: int,
        message: str) -> None:
    good = image_bytes(workspace)
    body = {
        'empty': b'',
        'text': b'a picture of a square',
        'not an image': b'GIF89a but then nothing of the kind',
        'truncated': good[:len(good) // 2],
        'too many bytes': png(np.random.default_rng(0).integers(0, 256, (160, 160, 3), np.uint8)),
        'too many pixels': png(np.full((250, 250, 3), 90, np.uint8)),
    }[case]
    got, answer = post(f'{server}/predict', body, content_type)
    assert (got, message in answer.get('error', '')) == (status, True), answer
    assert post(f'{server}/predict', good)[0] == 200


def test_more_requests_than_held_and_queued_get_503_and_none_hangs(server: str,
                                                                   workspace: Path) -> None:
    """One request held, one queued: of 12 sent at once, some are refused at once."""
    good = image_bytes(workspace)
    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(lambda _: post(f'{server}/predict', good, timeout=120)[0],
                                 range(12)))
    assert set(statuses) == {200, 503}, statuses
    assert post(f'{server}/predict', good)[0] == 200


def test_a_killed_replica_fails_its_request_and_is_restarted(server: str,
                                                             workspace: Path) -> None:
    pid = health(server)['pid']
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(post, f'{server}/predict', image_bytes(workspace), 'image/jpeg', 120)
        time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        status, _ = pending.result(timeout=120)
    # killed in flight (5xx) or, rarely, answered just before the kill
    assert status >= 500 or status == 200
    deadline = time.monotonic() + 120
    while True:
        try:
            restarted = health(server)['pid']
            if restarted != pid:
                break
        except (OSError, ValueError):
            pass
        assert time.monotonic() < deadline, 'the replica was not restarted within 120 s'
        time.sleep(0.5)
    assert post(f'{server}/predict', image_bytes(workspace))[0] == 200
