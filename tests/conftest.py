"""Every test starts from the same global random state, so a test that draws without its own generator
still draws the same numbers on every run and on every machine: a failure is always reproducible."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def _same_random_state_for_every_test() -> None:
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)
