#!/usr/bin/env python
"""Probe training throughput (clips/s) against a hand-written PyTorch loop, same machine, same run.

    python benchmarks/probe_throughput.py [--steps 40] [--rounds 2] [--model lrcn_advisor/examples/classic_lrcn.h5]

Both sides train the classic LRCN (TimeDistributed Conv2D 16/32/64/64 + MaxPool 4,4,2,2 + dropout
0.25 -> LSTM 32 -> Dense 4) on the same generated clips with Adam, batch 16. The probe side is the
real probe path (`run_task`: GraphSpec -> Keras 3 on its chosen backend); the PyTorch side is a
plain nn.Module with NCHW tensors prepared once. Each part runs in its own process (no thread pools
competing), parts alternate over rounds and the best round of each counts. Throughput is the batch
size over the median step time, batch assembly included, compile step left out. Target: >= 0.8x.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BATCH = 16
TARGET = 0.8


def probe_part(model: Path, steps: int) -> dict:
    from lrcn_advisor.pipeline import analyse_path
    from lrcn_advisor.probes import runtime
    from lrcn_advisor.probes.data import data_spec, load_dataset
    from lrcn_advisor.probes.train import Task, loss_spec, run_task

    ir = analyse_path(model)
    loss = loss_spec(ir)
    spec = data_spec(None, tuple(ir.input_shapes[0][1:]), loss.classes)
    load_dataset(spec)
    backend = runtime.choose_backend()
    runtime.import_keras(backend)
    record = run_task(Task("baseline", 0, ir.graph, spec, loss, steps, BATCH, backend,
                           gpu=runtime.device(backend).gpu, evaluate=False))
    if record.error:
        raise SystemExit(f"probe run failed: {record.error}")
    return {"clips_per_s": BATCH / record.step_time_s, "backend": backend}


def torch_part(model: Path, steps: int) -> dict:
    import numpy as np
    import torch
    from torch import nn

    from lrcn_advisor.pipeline import analyse_path
    from lrcn_advisor.probes.data import data_spec, load_dataset

    ir = analyse_path(model)
    frames, height, width, channels = ir.input_shapes[0][1:]
    data = load_dataset(data_spec(None, (frames, height, width, channels), 4))
    x = torch.from_numpy(np.ascontiguousarray(data.x_train.transpose(0, 1, 4, 2, 3)))
    y = torch.from_numpy(data.y_train)

    class ClassicLRCN(nn.Module):
        def __init__(self):
            super().__init__()
            layers, cin = [], channels
            for i, (filters, pool) in enumerate(zip((16, 32, 64, 64), (4, 4, 2, 2))):
                layers += [nn.Conv2d(cin, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(pool)]
                layers += [nn.Dropout(0.25)] if i < 3 else []
                cin = filters
            self.frames = nn.Sequential(*layers)
            self.lstm = nn.LSTM(64 * (height // 64) * (width // 64), 32, batch_first=True)
            self.head = nn.Linear(32, 4)

        def forward(self, clips):
            n, t = clips.shape[:2]
            features = self.frames(clips.flatten(0, 1)).reshape(n, t, -1)
            return self.head(self.lstm(features)[0][:, -1])

    torch.manual_seed(0)
    net = ClassicLRCN()
    optimizer = torch.optim.Adam(net.parameters(), 1e-3)
    criterion = nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    times, per_epoch = [], len(y) // BATCH
    while len(times) < steps:
        order = torch.randperm(len(y), generator=generator)
        for step in range(min(per_epoch, steps - len(times))):
            began = time.perf_counter()
            index = order[step * BATCH:(step + 1) * BATCH].sort().values
            optimizer.zero_grad()
            criterion(net(x[index]), y[index]).backward()
            optimizer.step()
            times.append(time.perf_counter() - began)
    return {"clips_per_s": BATCH / statistics.median(times[1:]), "threads": torch.get_num_threads()}


def run_part(part: str, model: Path, steps: int) -> dict:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, __file__, "--part", part, "--model", str(model), "--steps", str(steps)],
                          capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"{part} part failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "lrcn_advisor" / "examples" / "classic_lrcn.h5")
    parser.add_argument("--steps", type=int, default=40, help="training steps per part and round")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--part", choices=["probe", "torch"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.part:
        result = (probe_part if args.part == "probe" else torch_part)(args.model, args.steps)
        print(json.dumps(result))
        return 0
    best: dict[str, dict] = {}
    for round_ in range(1, args.rounds + 1):
        for part in ("torch", "probe"):
            result = run_part(part, args.model, args.steps)
            print(f"round {round_} {part:5s}: {result['clips_per_s']:7.1f} clips/s", flush=True)
            if part not in best or result["clips_per_s"] > best[part]["clips_per_s"]:
                best[part] = result
    probe, torch_ = best["probe"]["clips_per_s"], best["torch"]["clips_per_s"]
    ratio = probe / torch_
    print(f"probes (Keras 3, {best['probe']['backend']} backend): {probe:.1f} clips/s")
    print(f"plain PyTorch loop ({best['torch']['threads']} threads): {torch_:.1f} clips/s")
    print(f"ratio: {ratio:.2f}x (target >= {TARGET}x: {'met' if ratio >= TARGET else 'NOT met'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
