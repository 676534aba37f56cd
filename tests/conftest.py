import random

import numpy as np
import pytest
import torch

from tests.helpers import tiny_toy_set


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
    yield


@pytest.fixture(scope='session')
def toy_root(tmp_path_factory):
    """A tiny toy COCO set (8 train, 4 val images), made once per run."""
    return tiny_toy_set(tmp_path_factory.mktemp('data'))
