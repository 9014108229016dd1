"""Every test runs in mmdet's default scope with our models registered."""
import pytest
from mmengine.registry import init_default_scope

import mmdet_centermask  # noqa: F401  (registers the models, applies the compat fixes)


@pytest.fixture(scope='session', autouse=True)
def mmdet_scope():
    init_default_scope('mmdet')
