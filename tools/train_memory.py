"""Measured peak allocator memory of one training step of a PyTorch twin on CPU.

The step (forward, cross-entropy loss, backward, optimiser step) runs under
torch.profiler with profile_memory=True, which records every allocation and
free of the CPU allocator against the op that made it (its self CPU memory;
frees outside any op are "[memory]" events). Their running sum in order of the ops' end times
is the memory the step added, and its
maximum plus the bytes that were already live (weights and the input clip;
gradients and optimiser state already exist after a warm-up step) is the peak.
Process RSS is not used: it holds the framework's own baseline.
"""
from __future__ import annotations

import torch
from torch import nn


def _state_bytes(model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
    tensors = list(model.parameters()) + list(model.buffers())
    for state in optimizer.state.values():
        tensors += [v for v in state.values() if torch.is_tensor(v) and v.dim() > 0]
    return sum(t.numel() * t.element_size() for t in tensors)


def measured_peak(model: nn.Module, clip: torch.Tensor, optimizer_name: str = "adam") -> int:
    """Peak bytes live during one steady-state training step (after one warm-up step)."""
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=1e-3) if optimizer_name == "adam" else torch.optim.SGD(params, lr=1e-2)
    target = torch.zeros(clip.shape[0], dtype=torch.long)
    loss_fn = nn.CrossEntropyLoss()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(clip), target).backward()
        optimizer.step()

    step()  # warm-up: the optimiser state now exists, as in every later step
    optimizer.zero_grad(set_to_none=True)
    before = _state_bytes(model, optimizer) + clip.numel() * clip.element_size()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    # each op's own allocations minus its own frees (children excluded), and the "[memory]"
    # frees no op claims, in end-time order (an op's allocations are live when it ends)
    events = sorted((e for e in prof.events() if e.self_cpu_memory_usage), key=lambda e: e.time_range.end)
    live = peak = 0
    for event in events:
        live += event.self_cpu_memory_usage
        peak = max(peak, live)
    return before + peak
