"""Several processes, one run: the little that DDP under ``torchrun`` needs from the training loop.

``torchrun --nproc-per-node N -m polychrome train ...`` starts N copies of the same command with ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` set. Each copy trains on its own part of the images with its own batches;
DDP averages the gradients, so every copy holds the same weights. Only rank 0 validates, writes checkpoints,
logs and exports; decisions to stop are agreed by all ranks, so none is left waiting for the others.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from polychrome.devices import resolve_device


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def any(self, flag: bool, device: torch.device) -> bool:
        """True on every rank when ``flag`` is true on any rank (a no-op without DDP)."""
        return self.agree((flag,), device)[0]

    def agree(self, flags: tuple[bool, ...], device: torch.device) -> tuple[bool, ...]:
        """Each flag true on every rank when it is true on any rank, in one all-reduce (a training step
        pays for one, whatever the number of decisions)."""
        if not self.enabled:
            return flags
        values = torch.tensor([1.0 if f else 0.0 for f in flags], device=device)
        dist.all_reduce(values, op=dist.ReduceOp.MAX)
        return tuple(bool(v > 0) for v in values.tolist())

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def init_distributed(device_name: str) -> tuple[Distributed, torch.device]:
    """Join the process group that ``torchrun`` describes in the environment, if any.

    Returns the rank information and the device this process trains on: with CUDA, GPU ``LOCAL_RANK`` and
    the NCCL backend; on CPU, the gloo backend.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Distributed(), resolve_device(device_name)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device_name.startswith("cuda:"):
        # Each process takes GPU LOCAL_RANK; one named GPU for all of them cannot be honoured.
        raise ValueError(
            f"device {device_name!r}: under torchrun each process trains on GPU LOCAL_RANK; "
            "use --device cuda and choose the GPUs with CUDA_VISIBLE_DEVICES"
        )
    resolve_device(device_name)  # a CUDA device without CUDA is refused here as everywhere
    use_cuda = device_name in ("auto", "cuda") and torch.cuda.is_available()
    if use_cuda:
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    return Distributed(rank, world_size, local_rank), device


def shutdown_distributed(ctx: Distributed) -> None:
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
