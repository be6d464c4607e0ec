#!/usr/bin/env bash
# Run the probes' known-answer set on a GPU with whichever Keras 3 backend the machine has, and
# record the device, step times, GPU utilisation and verdicts.
#
#     benchmarks/gpu_probes.sh [OUT_DIR] [BUDGET]      # defaults: benchmarks/results/gpu, 10m per case
#
# KERAS_BACKEND picks the backend when set; otherwise the first of torch, jax, tensorflow that sees
# the GPU. Fails loudly (exit 3) when no GPU is visible or no backend can use it: a CPU run here
# would be a different experiment (benchmarks/probe_cases.py is the CPU one).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-${OUT:-benchmarks/results/gpu}}"
BUDGET="${2:-10m}"
PYTHON="${PYTHON:-python}"
mkdir -p "$OUT"

die() { echo "gpu_probes.sh: ERROR: $*" >&2; exit 3; }

command -v nvidia-smi >/dev/null 2>&1 || die "nvidia-smi not found: no NVIDIA GPU on this machine"
nvidia-smi -L >"$OUT/device.txt" 2>&1 || die "nvidia-smi cannot list a GPU: $(cat "$OUT/device.txt")"
grep -q "GPU 0" "$OUT/device.txt" || die "no GPU listed by nvidia-smi"

missing=$("$PYTHON" - <<'PY'
import importlib.util
need = ["keras", "numpy", "h5py", "click", "rich", "jinja2", "onnx", "pygal"]
print(" ".join(name for name in need if importlib.util.find_spec(name) is None))
PY
)
[ -z "$missing" ] || die "missing Python packages: $missing (pip install -e . 'keras>=3' first)"

if [ -z "${KERAS_BACKEND:-}" ]; then
  KERAS_BACKEND=$("$PYTHON" - <<'PY'
import importlib.util
def torch_gpu():
    import torch
    return torch.cuda.is_available()
def jax_gpu():
    import jax
    return jax.default_backend() == "gpu"
def tf_gpu():
    import tensorflow as tf
    return bool(tf.config.list_physical_devices("GPU"))
for name, probe in (("torch", torch_gpu), ("jax", jax_gpu), ("tensorflow", tf_gpu)):
    if importlib.util.find_spec(name) is None:
        continue
    try:
        if probe():
            print(name)
            break
    except Exception:
        pass
PY
)
fi
[ -n "${KERAS_BACKEND:-}" ] || die "a GPU is listed but none of torch, jax, tensorflow can use it"
export KERAS_BACKEND
echo "gpu_probes.sh: backend $KERAS_BACKEND on $(head -1 "$OUT/device.txt")"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv >"$OUT/device.csv"
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader -l 1 >"$OUT/utilisation.csv" &
SAMPLER=$!
trap 'kill $SAMPLER 2>/dev/null || true' EXIT

status=0
PYTHONPATH="$PWD" "$PYTHON" benchmarks/probe_cases.py --budget "$BUDGET" --out "$OUT" | tee "$OUT/table.md" || status=$?
kill $SAMPLER 2>/dev/null || true

"$PYTHON" - "$OUT" <<'PY'
import csv, json, sys
from pathlib import Path
out = Path(sys.argv[1])
rows = json.loads((out / "probe_cases.json").read_text())
busy = [float(r[1].strip().split()[0]) for r in csv.reader(open(out / "utilisation.csv")) if len(r) > 1
        and r[1].strip().split()[0].replace(".", "").isdigit()]
summary = {"backend": rows["rows"][0].get("backend") if rows["rows"] else None,
           "device": rows["rows"][0].get("device") if rows["rows"] else None,
           "utilisation_mean_pct": round(sum(busy) / len(busy), 1) if busy else None,
           "utilisation_max_pct": max(busy) if busy else None, "samples": len(busy),
           "cases": [{k: r.get(k) for k in ("case", "verdict", "decided", "correct", "wall_s", "seeds",
                                            "step_time_s")} for r in rows["rows"]]}
(out / "gpu_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(json.dumps(summary, indent=2))
if summary["device"] and not any(word in summary["device"] for word in ("GPU", "NVIDIA", "H100", "H200", "A100")) \
        and summary["device"].startswith("CPU"):
    print("gpu_probes.sh: ERROR: the probes ran on the CPU, not the GPU", file=sys.stderr)
    sys.exit(3)
PY
exit $status
