"""``tools/analysis_tools/benchmark_serving.py``'s load test against a stand-in server (this
process's standard-library HTTP server, answering after 50 ms): every request answered, the
latencies and the throughput that 50 ms and the client count imply. The server it measures is
tested in ``tests/e2e/test_serving.py``; no test asserts a time of ours."""
import importlib.util
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from mmdet_centermask.testing import REPO_ROOT

spec = importlib.util.spec_from_file_location(
    'benchmark_serving', REPO_ROOT / 'tools' / 'analysis_tools' / 'benchmark_serving.py')
benchmark_serving = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark_serving)


class SlowAnswer(BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        SlowAnswer.received.append(self.rfile.read(int(self.headers['Content-Length'])))
        time.sleep(0.05)
        body = json.dumps(dict(labels=[])).encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def url():
    server = ThreadingHTTPServer(('127.0.0.1', 0), SlowAnswer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f'http://127.0.0.1:{server.server_address[1]}/predict'
    server.shutdown()


@pytest.mark.parametrize('concurrency', [1, 4])
def test_load_test_sends_every_request_and_measures_them(url, concurrency):
    SlowAnswer.received.clear()
    row = benchmark_serving.load_test(url, [b'one', b'two', b'three'], 12, concurrency)
    # the warm-up, then the 12 requests cycling through the bodies
    assert sorted(SlowAnswer.received[1:]) == sorted([b'one', b'two', b'three'] * 4)
    assert row['concurrency'] == concurrency
    assert 50 <= row['p50_ms'] <= row['p95_ms'] < 1000
    # 12 requests of >= 50 ms each, `concurrency` at a time
    assert row['images_per_s'] <= concurrency / 0.05
    # no server process given: all the CPU is this process's (the stand-in server is a thread)
    assert row['replica_cpu_ms'] == row['server_cpu_ms'] == 0 < row['clients_cpu_ms']
