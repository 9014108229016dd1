"""Every test runs in mmdet's default scope with our models registered and, as under our tools
and the zoo configs, the fixes of ``mmdet_centermask.compat`` that the running stack needs."""
import pytest
from mmengine.registry import init_default_scope

import mmdet_centermask  # noqa: F401  (registers the models)
import mmdet_centermask.compat  # noqa: F401  (the fixes this stack needs)


@pytest.fixture(scope='session', autouse=True)
def mmdet_scope():
    init_default_scope('mmdet')
