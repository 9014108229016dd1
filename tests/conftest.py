"""Every test runs in mmdet's default scope with our models registered and, as under our tools
and the zoo configs, the fixes of ``mmdet_centermask.compat`` that the running stack needs.
``coco45``: the project's shared real data, for the tests that need real photographs."""
from pathlib import Path

import pytest
from mmengine.registry import init_default_scope

import mmdet_centermask  # noqa: F401  (registers the models)
import mmdet_centermask.compat  # noqa: F401  (the fixes this stack needs)

COCO45 = Path(__file__).resolve().parents[2] / 'shared' / 'data' / 'coco45'


@pytest.fixture(scope='session', autouse=True)
def mmdet_scope():
    init_default_scope('mmdet')


@pytest.fixture(scope='session')
def coco45() -> Path:
    """``../shared/data/coco45``: 45 real COCO val2017 images (``images/``) with their official
    annotations (``instances.json``) and fake results with published pycocotools stats. Present
    beside the checkout in CI; a test that takes this fixture skips where it is absent."""
    if not (COCO45 / 'instances.json').is_file() or not (COCO45 / 'images').is_dir():
        pytest.skip(f'the shared real data coco45 is not beside this checkout ({COCO45})')
    return COCO45


def pytest_collection_modifyitems(items: list) -> None:
    """Every test under ``tests/e2e/`` is an end-to-end run (marker ``e2e``)."""
    e2e = Path(__file__).resolve().parent / 'e2e'
    for item in items:
        if e2e in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.e2e)
