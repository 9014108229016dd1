"""The Ray Serve deployment of a CenterMask: ``POST /predict`` with an image file as the body
answers its detections (:func:`image_answer`), ``GET /health`` says the replica is up.

Requests are checked before they reach the model (:func:`decode_image`: 4xx with a message);
``@serve.batch`` gathers the requests that arrive together, up to ``max_batch_size`` within
``batch_wait_timeout_s``, and predicts them one after the other at batch size 1, as offline
inference does, so that served and offline answers are the same. Replicas, back-pressure
(``max_ongoing_requests``, ``max_queued_requests``: 503 beyond them) and restarts are Ray Serve's.
"""
import os
from typing import List, Optional

import mmdet_centermask.compat  # noqa: F401 (the fixes this stack needs, in every replica)
import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from mmcv.transforms import Compose
from mmengine.config import Config
from mmengine.registry import init_default_scope
from ray import serve

from ..apis import build_predictor
from ..utils import image_test_pipeline
from .answer import image_answer
from .image_request import BadRequest, ImageLimits, decode_image

app = FastAPI(title='CenterMask')


@serve.deployment
@serve.ingress(app)
class CenterMaskDeployment:
    """One replica: the model of ``config`` and ``weights`` on ``backend``.

    Args:
        config (str): A CenterMask config file, or a Panoptic-CenterMask one (PyTorch; its
            answers add the panoptic segments).
        weights (str): Its checkpoint (``pytorch``) or exported ``.onnx``.
        backend (str): ``'pytorch'``, ``'onnxruntime'`` or ``'openvino'``.
        precision (str): ``'fp32'``, ``'bf16'`` or ``'int8'`` (OpenVINO).
        num_threads (int, optional): Threads of torch or of the backend.
        cfg_options (dict, optional): Overrides of the config.
        max_bytes (int): The largest image file taken.
        max_pixels (int): The largest decoded image taken.
        max_batch_size (int): Requests gathered into one batch at most.
        batch_wait_timeout_s (float): How long a batch waits for more requests.
    """

    def __init__(self, config: str, weights: str, backend: str = 'pytorch',
                 precision: str = 'fp32', num_threads: Optional[int] = None,
                 cfg_options: Optional[dict] = None, max_bytes: int = 20 * 2**20,
                 max_pixels: int = 50_000_000, max_batch_size: int = 4,
                 batch_wait_timeout_s: float = 0.01) -> None:
        cfg = Config.fromfile(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        init_default_scope(cfg.get('default_scope', 'mmdet'))
        self.predictor, self.classes = build_predictor(cfg, weights, backend, precision,
                                                       num_threads, panoptic=True)
        self.pipeline = Compose(image_test_pipeline(cfg, from_array=True))
        self.limits = ImageLimits(max_bytes, max_pixels)
        self.predict_batch.set_max_batch_size(max_batch_size)
        self.predict_batch.set_batch_wait_timeout_s(batch_wait_timeout_s)

    @app.get('/health')
    def health(self) -> dict:
        """The replica is up: its classes and process id."""
        return dict(status='ok', classes=list(self.classes), pid=os.getpid())

    @app.post('/predict')
    async def predict(self, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            image = decode_image(body, request.headers.get('content-type', ''), self.limits)
        except BadRequest as error:
            return JSONResponse(dict(error=str(error)), status_code=error.status)
        return JSONResponse(await self.predict_batch(image))

    @serve.batch(max_batch_size=4, batch_wait_timeout_s=0.01)
    async def predict_batch(self, images: List[np.ndarray]) -> List[dict]:
        return [image_answer(self.predictor(self.pipeline(dict(img=image, img_id=0))),
                             self.classes) for image in images]
