"""Predictions of a batch run kept on disk one image per line, so that a run killed at any moment
resumes where it stopped and loses nothing."""
import json
import os
from pathlib import Path
from typing import Dict, Iterator, Set

import torch
from mmdet.structures import DetDataSample


def prediction_record(img_id: int, sample: DetDataSample) -> dict:
    """One image's detections as a json-ready record, in the form of mmdet's ``CocoMetric``
    results (``img_id``, xyxy ``bboxes`` at the original size, ``scores``, ``labels``,
    ``mask_scores``, ``masks`` as COCO RLE with text ``counts``)."""
    pred = sample.pred_instances
    record = dict(img_id=img_id, bboxes=pred.bboxes.tolist(), scores=pred.scores.tolist(),
                  labels=pred.labels.tolist())
    if 'masks' in pred:
        if isinstance(pred.masks, torch.Tensor):
            raise ValueError("the model gave bitmap masks: set test_cfg.rcnn.mask_format='rle' "
                             'so that masks are encoded as they are pasted')
        record['masks'] = [dict(size=list(rle['size']), counts=rle['counts'].decode()
                                if isinstance(rle['counts'], bytes) else rle['counts'])
                           for rle in pred.masks]
        record['mask_scores'] = pred.mask_scores.tolist()
    return record


class PredictionStore:
    """A json-lines file of :func:`prediction_record` s (or ``{"img_id", "error"}`` for an image
    that could not be read), each line written whole, flushed and synced before the next image.

    Opening an existing file resumes it: the images it holds are :meth:`done`; a last line cut
    by a kill is removed (that image is predicted again).

    Args:
        path (str or Path): The ``.jsonl`` file.
    """

    def __init__(self, path: os.PathLike) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._done: Set[int] = set()
        if self.path.exists():
            data = self.path.read_bytes()
            complete = data[:data.rfind(b'\n') + 1]
            if len(complete) < len(data):
                with self.path.open('r+b') as file:
                    file.truncate(len(complete))
            self._done = {json.loads(line)['img_id'] for line in complete.splitlines()}
        self._file = self.path.open('a')

    def done(self) -> Set[int]:
        """Ids of the images already in the file."""
        return set(self._done)

    def add_error(self, img_id: int, reason: str) -> None:
        """Record an image that could not be read (it is not tried again on resuming)."""
        self.add(dict(img_id=img_id, error=reason))

    def add(self, record: dict) -> None:
        """Append one image's record and make it durable."""
        self._file.write(json.dumps(record) + '\n')
        self._file.flush()
        os.fsync(self._file.fileno())
        self._done.add(record['img_id'])

    def close(self) -> None:
        self._file.close()

    def records(self, with_errors: bool = False) -> Iterator[dict]:
        """The records in the file, in the order they were written."""
        with self.path.open() as file:
            for line in file:
                record = json.loads(line)
                if with_errors or 'error' not in record:
                    yield record

    def errors(self) -> Dict[int, str]:
        """``{img_id: reason}`` of the images that could not be read."""
        return {r['img_id']: r['error'] for r in self.records(True) if 'error' in r}
