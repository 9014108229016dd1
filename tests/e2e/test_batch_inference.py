"""``tools/batch_inference.py`` end to end: on a COCO json of 40 images its COCO results equal those
``tools/test.py`` writes for the same model (masks pasted straight into RLE against mmdet's
bitmaps encoded by ``CocoMetric``); a run killed with SIGKILL after its fifth prediction and run again ends with
the same results, without predicting again what it had; a folder with an unreadable image is
predicted and drawn, the image named and not tried again.

The tiny CenterMask-R18 (``tests/data/configs``) with seeded random weights and no score
threshold (so that most images have detections) runs on ``write_tiny_coco``'s four images, listed
ten times under different ids. The tools run side by side, one thread each.
"""
import json
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Dict

import pytest
from mmdet_centermask.testing import (REPO_ROOT, ToolRun, save_initialised_checkpoint,
                                      write_tiny_coco)

CONFIG = REPO_ROOT / 'tests' / 'data' / 'configs' / 'centermask_r18_tiny-coco.py'
OPTIONS = ['model.test_cfg.bbox.score_thr=0.0', 'model.test_cfg.bbox.max_per_img=5']
COPIES = 10
MANY = 'data/tiny_coco/annotations/many.json'


def write_many(root: Path) -> None:
    """``many.json``: the four images and their annotations, listed ``COPIES`` times."""
    coco = json.loads((root / 'data/tiny_coco/annotations/instances.json').read_text())
    images, annotations = [], []
    for copy in range(COPIES):
        offset = copy * len(coco['images'])
        images += [dict(image, id=image['id'] + offset) for image in coco['images']]
        annotations += [dict(ann, id=len(annotations) + i + 1, image_id=ann['image_id'] + offset)
                        for i, ann in enumerate(coco['annotations'])]
    (root / MANY).write_text(json.dumps(dict(coco, images=images, annotations=annotations)))


def batch_inference(inputs: str, out_dir: str, *args: str) -> list:
    return [sys.executable, str(REPO_ROOT / 'tools' / 'batch_inference.py'), str(CONFIG),
            'random.pth', inputs, '--out-dir', out_dir, *args, '--cfg-options', *OPTIONS]


@pytest.fixture(scope='module')
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``data/tiny_coco`` with ``many.json``, a folder of two images and a broken one, and
    ``random.pth`` (seed 0)."""
    root = tmp_path_factory.mktemp('batch_inference')
    write_tiny_coco(root / 'data' / 'tiny_coco')
    write_many(root)
    folder = root / 'folder'
    folder.mkdir()
    for name in ('0001.jpg', '0002.jpg'):
        shutil.copy(root / 'data' / 'tiny_coco' / 'images' / name, folder / name)
    (folder / 'broken.jpg').write_bytes(b'\xff\xd8 cut short')
    save_initialised_checkpoint(CONFIG, root / 'random.pth')
    return root


def kill_after_predictions(run: ToolRun, stored: Path, count: int) -> None:
    """SIGKILL ``run`` (and its loader worker) once ``stored`` holds ``count`` predictions."""
    deadline = time.monotonic() + 240
    while not (stored.exists() and stored.read_text().count('\n') >= count):
        assert run.process.poll() is None, 'the run ended before it was killed'
        assert time.monotonic() < deadline, f'no {count} predictions within 240 s'
        time.sleep(0.005)
    run.kill()


@pytest.fixture(scope='module')
def runs(workspace: Path) -> Dict[str, ToolRun]:
    """The runs that need nothing else, started side by side; ``killed`` is killed after 5
    predictions, then ``resumed``."""
    many = [MANY, '--img-dir', 'data/tiny_coco/images']
    runs = {
        'uninterrupted': ToolRun(batch_inference(*many[:1], 'uninterrupted', *many[1:]),
                                 cwd=workspace),
        'killed': ToolRun(batch_inference(*many[:1], 'killed', *many[1:]), cwd=workspace),
        'test_tool': ToolRun([sys.executable, str(REPO_ROOT / 'tools' / 'test.py'), str(CONFIG),
                              'random.pth', '--work-dir', 'test_tool', '--cfg-options', *OPTIONS,
                              f'test_dataloader.dataset.ann_file={MANY[15:]}',
                              f'test_evaluator.ann_file={MANY}',
                              'test_evaluator.outfile_prefix=test_tool/results'], cwd=workspace),
        'folder': ToolRun(batch_inference('folder', 'folder_out', '--draw'), cwd=workspace),
    }
    kill_after_predictions(runs['killed'], workspace / 'killed' / 'predictions.jsonl', 5)
    runs['resumed'] = ToolRun(batch_inference(MANY, 'killed', *many[1:]), cwd=workspace)
    return runs


def results(folder: Path) -> tuple:
    return tuple(json.loads((folder / f'results.{kind}.json').read_text())
                 for kind in ('bbox', 'segm'))


def test_results_and_metrics_are_those_of_the_test_tool(runs: Dict[str, ToolRun],
                                                        workspace: Path) -> None:
    output = runs['uninterrupted'].output()
    runs['test_tool'].output()
    bbox, segm = results(workspace / 'uninterrupted')
    assert (bbox, segm) == results(workspace / 'test_tool')
    images = {r['image_id'] for r in segm}
    assert images == {r['image_id'] for r in bbox} and len(images) >= 2 * COPIES
    assert all(isinstance(r['segmentation']['counts'], str) for r in segm)
    assert f'predicted {4 * COPIES} image(s); 0 were already in' in output
    assert 'segm_mAP: ' in output and 'bbox_mAP: ' in output


def test_a_killed_run_resumes_to_the_same_results(runs: Dict[str, ToolRun],
                                                  workspace: Path) -> None:
    assert runs['killed'].returncode < 0, 'the run ended before it was killed'
    output = runs['resumed'].output()
    predicted, done = map(int, re.search(r'predicted (\d+) image\(s\); (\d+) were already in',
                                          output).groups())
    assert predicted + done == 4 * COPIES and 5 <= done < 4 * COPIES
    runs['uninterrupted'].output()
    assert results(workspace / 'killed') == results(workspace / 'uninterrupted')
    lines = (workspace / 'killed' / 'predictions.jsonl').read_text().splitlines()
    assert sorted(json.loads(line)['img_id'] for line in lines) == list(range(1, 4 * COPIES + 1))


def test_a_folder_is_predicted_and_drawn_and_an_unreadable_image_named_once(
        runs: Dict[str, ToolRun], workspace: Path) -> None:
    output = runs['folder'].output()
    broken = Path('folder') / 'broken.jpg'  # as the command line names the folder
    assert 'predicted 3 image(s); 0 were already in' in output
    assert f'skipped 1 unreadable image(s): {broken}: ' in output
    bbox, segm = results(workspace / 'folder_out')
    assert {r['image_id'] for r in bbox} == {r['image_id'] for r in segm} == {1, 2}
    assert {r['category_id'] for r in bbox} <= {1, 2}
    drawn = sorted(p.name for p in (workspace / 'folder_out' / 'vis').iterdir())
    assert drawn == ['0001.jpg', '0002.jpg']
    again = ToolRun(batch_inference('folder', 'folder_out'), cwd=workspace).output()
    assert 'predicted 0 image(s); 3 were already in' in again
    assert f'skipped 1 unreadable image(s): {broken}: ' in again
    assert results(workspace / 'folder_out') == (bbox, segm)
