"""Training checkpoints: atomic, in parts small enough to move, and safe to load.

A checkpoint is a folder (``checkpoints/last/``): the state serialised once, cut into ``part-<sha256>.bin``
files of at most :data:`PART_BYTES` each, and an ``index.json`` naming them in order. The index is written
last and atomically, so a run killed mid-write keeps the previous checkpoint intact (its parts are only
removed once the new index is in place), and a machine that can only bring back small files can still carry
a run's checkpoint to another. Checkpoints hold tensors and plain Python values only and are read with
``weights_only=True``, so loading one never runs code from the file.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from polychrome._atomic import atomic_write


def rng_state() -> dict[str, Any]:
    state = {
        "python": random.getstate(),
        "numpy": _numpy_state(),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(_as_tuple(state["python"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _numpy_state() -> tuple:
    # As plain values and a tensor, which weights_only loading accepts (a raw ndarray it may not).
    name, keys, pos, has_gauss, cached = np.random.get_state()
    return (name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached))


def _as_tuple(x: Any) -> Any:
    return tuple(_as_tuple(v) for v in x) if isinstance(x, list | tuple) else x


PART_BYTES = 15_000_000  # under the 16 MB a GPU machine hands back per file
INDEX = "index.json"


def save_checkpoint(state: dict[str, Any], folder: str | Path, part_bytes: int = PART_BYTES) -> None:
    """Write ``state`` into the checkpoint folder ``folder`` (see the module docstring), replacing what was
    there only once the new checkpoint is complete."""
    folder = Path(folder)
    buffer = io.BytesIO()
    torch.save(state, buffer)
    data = buffer.getbuffer()
    parts = []
    for start in range(0, max(len(data), 1), part_bytes):
        chunk = bytes(data[start : start + part_bytes])
        name = f"part-{hashlib.sha256(chunk).hexdigest()[:32]}.bin"
        if not (folder / name).is_file():  # an unchanged part (same bytes) is already there
            atomic_write(folder / name, lambda handle, chunk=chunk: handle.write(chunk))
        parts.append({"file": name, "bytes": len(chunk)})
    index = json.dumps({"format": 1, "bytes": len(data), "parts": parts}, indent=1).encode()
    atomic_write(folder / INDEX, lambda handle: handle.write(index))
    kept = {part["file"] for part in parts}
    for stale in folder.glob("part-*.bin"):  # the previous checkpoint's, now replaced
        if stale.name not in kept:
            stale.unlink(missing_ok=True)


def checkpoint_exists(folder: str | Path) -> bool:
    return (Path(folder) / INDEX).is_file()


def load_checkpoint(folder: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The state saved in the checkpoint folder ``folder``, each part checked against its digest."""
    folder = Path(folder)
    if not checkpoint_exists(folder):
        raise FileNotFoundError(f"{folder}: no checkpoint there (no {INDEX})")
    try:
        index = json.loads((folder / INDEX).read_text())
        chunks = []
        for part in index["parts"]:
            chunk = (folder / part["file"]).read_bytes()
            if hashlib.sha256(chunk).hexdigest()[:32] != part["file"][5:37] or len(chunk) != part["bytes"]:
                raise ValueError(f"{part['file']} is damaged (its content does not match its name)")
            chunks.append(chunk)
        return torch.load(io.BytesIO(b"".join(chunks)), map_location=map_location, weights_only=True)
    except Exception as err:  # a missing or damaged part, a foreign file
        raise ValueError(f"{folder}: unreadable checkpoint ({type(err).__name__}: {err})") from None
