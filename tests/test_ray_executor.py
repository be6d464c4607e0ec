"""Probe sweeps on a real local Ray cluster (2 CPUs): same results as local, retries, resume."""
from __future__ import annotations

import json
import os
import threading
import time

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ray = pytest.importorskip("ray")
psutil = pytest.importorskip("psutil")

from lrcn_advisor.config import Settings  # noqa: E402
from lrcn_advisor.pipeline import lint_ir  # noqa: E402
from lrcn_advisor.probes import ProbeOptions, run_probes  # noqa: E402
from test_probes import ir_of, lrcn  # noqa: E402

TIMING = ("step_time_s", "peak_memory_mb")


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3"}})
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model():
    ir = ir_of(lrcn(pool=4, rate=0.8, convs=(8,)))
    return ir, lint_ir(ir, Settings())


def options(cache, executor, seeds=2):
    return ProbeOptions(mode="on", budget="8steps", seeds=seeds, cache_dir=cache, executor=executor)


def metrics(report: dict) -> dict:
    return {(variant["id"], run["seed"]): [{k: v for k, v in epoch.items() if k not in TIMING and k != "grad_norms"}
                                           for epoch in run["epochs"]]
            for variant in report["variants"] for run in variant["runs"]}


def close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(close(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1e-4 * max(1.0, abs(a))
    return a == b


def test_ray_gives_the_local_results_and_records_where_it_ran(cluster, model, tmp_path):
    ir, findings = model
    local = run_probes(ir, findings, options(tmp_path / "local", "local")).to_dict()
    remote = run_probes(ir, findings, options(tmp_path / "ray", "ray")).to_dict()
    assert local["status"] == remote["status"] == "ran"
    assert metrics(local).keys() == metrics(remote).keys()
    assert close(metrics(local), metrics(remote))
    runs = [run for variant in remote["variants"] for run in variant["runs"]]
    assert all(run["executor"] == "ray" and run["worker"].startswith("node ") for run in runs)
    assert [v["verdict"] for v in local["verdicts"]] == [v["verdict"] for v in remote["verdicts"]]


def test_a_killed_worker_is_retried_and_the_sweep_completes(cluster, model, tmp_path):
    ir, findings = model
    killed = []

    def killer():
        deadline = time.time() + 240
        while not killed and time.time() < deadline:
            for process in psutil.process_iter(["cmdline"]):
                if any("_run_probe" in part for part in process.info["cmdline"] or []):
                    process.kill()
                    killed.append(process.pid)
                    return
            time.sleep(0.2)
    thread = threading.Thread(target=killer, daemon=True)
    thread.start()
    report = run_probes(ir, findings, options(tmp_path, "ray", seeds=1)).to_dict()
    thread.join(timeout=5)
    assert killed, "no probe worker was seen running"
    assert report["status"] == "ran"
    runs = [run for variant in report["variants"] for run in variant["runs"]]
    assert runs and not [run for run in runs if run.get("error")]


def test_an_interrupted_sweep_resumes_from_the_cache(cluster, model, tmp_path):
    ir, findings = model

    def stop_after_first(done, total, label):
        if done == 1:
            raise KeyboardInterrupt
    first = run_probes(ir, findings, options(tmp_path, "ray"), progress=stop_after_first).to_dict()
    assert first["status"] == "failed" and "interrupted after 1 runs" in first["reason"]
    resumed = run_probes(ir, findings, options(tmp_path, "local")).to_dict()
    runs = [run for variant in resumed["variants"] for run in variant["runs"]]
    assert resumed["status"] == "ran"
    assert sum(run["cached"] for run in runs) == 1 and len(runs) > 1
    assert json.dumps(resumed)  # the report stays JSON
