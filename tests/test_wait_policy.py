"""polychrome makes PyTorch's waiting OpenMP threads sleep unless the user chose otherwise (BENCHMARKS
section 7: spinning threads make the CPU path 2-5x slower beside another busy process)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

PROBE = "import polychrome, os; print(os.environ.get('OMP_WAIT_POLICY'))"


def _policy_seen(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


@pytest.mark.parametrize(("given", "expected"), [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_passive_unless_the_user_chose(given: str | None, expected: str) -> None:
    env = {} if given is None else {"OMP_WAIT_POLICY": given}
    assert _policy_seen(PROBE, **env) == expected


def test_left_alone_when_pytorch_was_loaded_first() -> None:
    # Too late to matter then: OpenMP has read the environment already, so nothing is pretended.
    assert _policy_seen("import torch; " + PROBE) == "None"
