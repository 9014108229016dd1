"""The main job end to end on the bundled data, with a few iterations instead of the full schedule:
data generation, tools/train.py, tools/test.py (metrics, pictures, dumped results), the summary, and
demo/image_demo.py on the produced checkpoint."""

import importlib.util
import json
import pickle
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[2]


def _run(*args: str) -> str:
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _coco_metrics(log: Path) -> dict:
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return {k: v for r in records for k, v in r.items() if k.startswith('coco/')}


def test_main_job_pipeline(tmp_path):
    work_dir = tmp_path / 'demo'
    out = _run(
        'tools/run_demo.py',
        '--work-dir',
        str(work_dir),
        '--cfg-options',
        'train_cfg.max_iters=3',
        'train_cfg.val_interval=3',
        'default_hooks.logger.interval=1',
        # after 3 iterations nothing scores 0.05 yet: keep the 10 best detections of each image so
        # that the metrics exist (10, not the config's 100: the 40 images are evaluated twice)
        'model.test_cfg.bbox.score_thr=0',
        'model.test_cfg.bbox.max_per_img=10',
    )
    assert 'Iter(train) [3/3]' in out and 'loss_mask_iou' in out and 'eta' in out
    assert '10/10' in out  # the evaluation progress bar (40 val images in batches of 4)

    summary = (work_dir / 'summary.md').read_text()
    assert summary.splitlines()[0].startswith('| task | mAP |')
    assert [line.split(' |')[0] for line in summary.splitlines()[2:]] == ['| bbox', '| segm']

    results = pickle.loads((work_dir / 'results.pkl').read_bytes())
    assert len(results) == 40
    assert {'bboxes', 'scores', 'labels', 'masks', 'mask_scores'} <= set(
        results[0]['pred_instances']
    )
    pictures = sorted(work_dir.glob('test/*/vis/*.jpg'))
    assert len(pictures) == 40
    assert str(pictures[0].parent) in out

    # tools/test.py on the final checkpoint gives the metrics the training run's validation gave
    train_log = next(p for p in work_dir.glob('*/vis_data/scalars.json'))
    test_log = next(p for p in work_dir.glob('test/*/*.json'))
    train_metrics, test_metrics = _coco_metrics(train_log), _coco_metrics(test_log)
    assert 'coco/segm_mAP' in test_metrics
    assert train_metrics == test_metrics

    checkpoint = (work_dir / 'last_checkpoint').read_text().strip()
    # folder mode: the corrupt and the empty file are skipped and named, the good image is drawn
    images = tmp_path / 'images'
    images.mkdir()
    image = (ROOT / 'data' / 'centermask_demo' / 'val' / '100000.jpg').read_bytes()
    (images / '100000.jpg').write_bytes(image)
    (images / 'broken.jpg').write_bytes(image[:200])
    (images / 'empty.png').write_bytes(b'')
    out = _run(
        'demo/image_demo.py',
        str(images),
        'configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py',
        checkpoint,
        '--out-dir',
        str(tmp_path / 'out'),
        '--pred-score-thr',
        '0',
        '--save-pred',
        '--cfg-options',
        'model.test_cfg.bbox.max_per_img=30',
    )
    assert sorted(p.name for p in (tmp_path / 'out' / 'vis').iterdir()) == ['100000.jpg']
    assert 'skipped 2 unreadable image(s): ' in out
    assert f'{images / "broken.jpg"} (' in out and f'{images / "empty.png"} (empty file)' in out
    # a threshold under the model's own lowers it: the detections below 0.05 exist to be drawn
    assert 'lowered model.test_cfg.bbox.score_thr: 0.05 -> 0.0' in out
    scores = json.loads((tmp_path / 'out' / 'preds' / '100000.json').read_text())['scores']
    assert 0 < len(scores) <= 30  # --cfg-options reached the model


def test_summary_table_of_a_panoptic_run():
    spec = importlib.util.spec_from_file_location('run_demo', ROOT / 'tools' / 'run_demo.py')
    run_demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_demo)
    metrics = {f'coco/{task}_{name}': 0.5 for task in ('bbox', 'segm')
               for name in run_demo.METRIC_NAMES}
    assert 'panoptic' not in run_demo.summary_table(metrics)
    metrics.update({f'coco_panoptic/{q}{s}': 10.0 * i + j for i, s in enumerate(('', '_th', '_st'))
                    for j, q in enumerate(('PQ', 'SQ', 'RQ'))})
    table = run_demo.summary_table(metrics).splitlines()
    assert table[2] == '| bbox | ' + ' | '.join(['0.500'] * 6) + ' |'
    assert table[-4:] == ['|---|---|---|---|', '| all | 0.0 | 1.0 | 2.0 |',
                          '| things | 10.0 | 11.0 | 12.0 |', '| stuff | 20.0 | 21.0 | 22.0 |']
