"""The main job: train CenterMask on the bundled demo data, evaluate it, and draw its predictions.

Runs, each step through the project's own tools so that what the demo shows is what users run:

1. ``tools/dataset_converters/make_demo_dataset.py`` (skipped when the data is up to date);
2. ``tools/train.py CONFIG`` (mmengine's logging: losses, lr, ETA; COCO evaluation at the end);
3. ``tools/test.py CONFIG CHECKPOINT --show-dir --out`` (bbox and segm COCO metrics, pictures);

then prints a summary table of the COCO metrics and where the pictures are. A panoptic config
(``configs/panoptic_centermask/demo/``) gets PQ / SQ / RQ (all, things, stuff) in the table too,
and its pictures show the panoptic map.
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = 'configs/centermask/demo/centermask-lite_v2-19-slim-dw_fpn_demo.py'
DEMO_DATA = 'data/centermask_demo'  # the demo configs' data_root
METRIC_NAMES = ('mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l')
PANOPTIC_NAMES = ('PQ', 'SQ', 'RQ')


def run(cmd, **kwargs) -> None:
    print('\n$ ' + ' '.join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, **kwargs)


def latest_metrics(test_dir: Path) -> dict:
    """The metrics line of the newest mmengine json log under ``test_dir``."""
    logs = sorted(test_dir.glob('*/*.json'), key=lambda p: p.stat().st_mtime)
    if not logs:
        raise FileNotFoundError(f'no mmengine json log under {test_dir}')
    for line in reversed(logs[-1].read_text().splitlines()):
        record = json.loads(line)
        if any(key.startswith('coco/') for key in record):
            return record
    print(
        f'no COCO metrics in {logs[-1]}: the model detected nothing above the score threshold '
        '(too few iterations?)'
    )
    return {}


def summary_table(metrics: dict) -> str:
    """The bbox and segm COCO metrics and, when the run has them, the panoptic ones."""
    rows = ['| task | ' + ' | '.join(METRIC_NAMES) + ' |', '|---' * (len(METRIC_NAMES) + 1) + '|']
    for task in ('bbox', 'segm'):
        values = [
            f'{metrics.get(f"coco/{task}_{name}", float("nan")):.3f}' for name in METRIC_NAMES
        ]
        rows.append(f'| {task} | ' + ' | '.join(values) + ' |')
    if any(key.startswith('coco_panoptic/') for key in metrics):
        rows += ['', '| panoptic | ' + ' | '.join(PANOPTIC_NAMES) + ' |',
                 '|---' * (len(PANOPTIC_NAMES) + 1) + '|']
        for segments, suffix in (('all', ''), ('things', '_th'), ('stuff', '_st')):
            values = [f'{metrics[f"coco_panoptic/{name}{suffix}"]:.1f}' for name in PANOPTIC_NAMES]
            rows.append(f'| {segments} | ' + ' | '.join(values) + ' |')
    return '\n'.join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--work-dir', default='work_dirs/centermask_demo')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='passed to train.py and test.py, e.g. train_cfg.max_iters=20',
    )
    args = parser.parse_args()

    work_dir = (ROOT / args.work_dir).resolve()
    python = sys.executable
    start = time.time()
    run([python, 'tools/dataset_converters/make_demo_dataset.py', '--out', DEMO_DATA])
    options = ['--cfg-options', *args.cfg_options] if args.cfg_options else []
    run([python, 'tools/train.py', args.config, '--work-dir', work_dir, *options])
    train_done = time.time()
    checkpoint = Path((work_dir / 'last_checkpoint').read_text().strip())
    test_dir = work_dir / 'test'
    run(
        [
            python,
            'tools/test.py',
            args.config,
            checkpoint,
            '--work-dir',
            test_dir,
            '--show-dir',
            'vis',
            '--out',
            work_dir / 'results.pkl',
            *options,
        ]
    )
    end = time.time()

    metrics = latest_metrics(test_dir)
    table = summary_table(metrics)
    (work_dir / 'summary.md').write_text(table + '\n')
    pictures = sorted(test_dir.glob('*/vis/*'))
    print('\n=== CenterMask demo: COCO metrics on the val split ===')
    print(table)
    print(
        f'\ntraining {train_done - start:.0f} s, evaluation {end - train_done:.0f} s '
        f'(checkpoint {checkpoint})'
    )
    if pictures:
        print(f'{len(pictures)} pictures of predictions in {pictures[0].parent}, e.g.')
        for picture in pictures[:3]:
            print(f'  {picture}')
    print(f'summary table: {work_dir / "summary.md"}; raw results: {work_dir / "results.pkl"}')


if __name__ == '__main__':
    main()
