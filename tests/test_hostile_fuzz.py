"""Fuzzers for issue 16: ONNX local-function call graphs, nested-model calls, and hostile text in names.

Each example is a real file from tools/make_hostile.py's generators, analysed in-process and
rendered in every format; a run must end in a result or an AdvisorError (never anything else),
within a bounded time, and no output may carry a raw control, bidi or invisible character.
A longer run: LRCN_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest tests/test_hostile_fuzz.py
"""
from __future__ import annotations

import os
import sys
import time
import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conftest import TOOLS

sys.path.insert(0, str(TOOLS))
import make_hostile  # noqa: E402
from test_hostile import assert_inert  # noqa: E402

from lrcn_advisor.config import Settings  # noqa: E402
from lrcn_advisor.errors import AdvisorError  # noqa: E402
from lrcn_advisor.pipeline import analyse_file  # noqa: E402

EXAMPLES = int(os.environ.get("LRCN_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
SECONDS = 20  # per example, CPU time: far above what a bounded analysis takes, far below the old hours

HOSTILE_CHARS = st.sampled_from(["\n", "\r", "\x1b", "\x07", "\x00", "\x85", "\x9b", "\u202e", "\u202a", "\u2066",
                                 "\u2069", "\u200e", "\u200f", "\u061c", "\u200b", "\ufeff", "\ufffe", "\uffff",
                                 "\u2028", "\U000e0041", ":", "%", ",", "<", "&", "`", "|", "@", "a", "é", "中"])
HOSTILE_TEXT = st.text(alphabet=HOSTILE_CHARS, min_size=1, max_size=12)
STATS: dict[str, dict[str, int]] = {}


def render_everything(result) -> dict[str, str]:
    from lrcn_advisor.reports import FORMATS, RenderContext, render
    from lrcn_advisor.reports.json_report import result_to_dict

    documents = [result_to_dict(result)]
    context = RenderContext(verbose=True)
    outputs = {name: render(name, documents, context) for name in FORMATS}
    ET.fromstring(outputs["junit"].encode("utf-8"))
    return outputs


def analyse_checked(path, kind: str):
    """Analyse and render; return the result or None (refused). Counts outcomes per kind."""
    stats = STATS.setdefault(kind, {"analysed": 0, "refused": 0})
    start = time.process_time()
    try:
        result = analyse_file(path, Settings())
    except AdvisorError as error:
        message = str(error)
        assert "\n" not in message and "internal error" not in message
        assert_inert(message, f"{kind} error")
        stats["refused"] += 1
        return None
    for fmt, text in render_everything(result).items():
        assert_inert(text, f"{kind} {fmt}")
    assert time.process_time() - start < SECONDS, kind
    stats["analysed"] += 1
    return result


FUNCTION_NAMES = st.lists(HOSTILE_TEXT, min_size=1, max_size=5, unique=True)


@FUZZ
@given(FUNCTION_NAMES, st.data())
def test_fuzz_onnx_function_bodies(tmp_path_factory, names, data):
    """Random call graphs among local functions (self-calls, cycles, deep fan-out) with hostile names."""
    calls = {name: data.draw(st.lists(st.sampled_from(names), max_size=4), label=f"calls of {name!r}")
             for name in names}
    path = tmp_path_factory.mktemp("fn") / "functions.onnx"
    make_hostile.save_onnx(make_hostile.onnx_calls(calls, names[0]), path)
    analyse_checked(path, "onnx functions")


@FUZZ
@given(st.integers(1, 40), st.integers(1, 8))
def test_fuzz_onnx_function_trees(tmp_path_factory, depth, fanout):
    """fanout**depth inlined nodes from a file of a few kilobytes: counted without inlining."""
    path = tmp_path_factory.mktemp("tree") / "tree.onnx"
    make_hostile.save_onnx(make_hostile.onnx_function_tree(depth, fanout), path)
    result = analyse_checked(path, "onnx function trees")
    if fanout ** depth > 60_000:
        assert result is None


@FUZZ
@given(st.integers(1, 30), st.integers(1, 9), st.lists(HOSTILE_TEXT, max_size=3, unique=True))
def test_fuzz_nested_model_calls(tmp_path_factory, depth, calls, names):
    """A nested model called `calls` times per level, `depth` levels: counted exactly, once per shape."""
    path = tmp_path_factory.mktemp("nested") / "nested.json"
    make_hostile.write_json(path, make_hostile.nested_calls(depth, calls, names))
    result = analyse_checked(path, "nested calls")
    if result is not None:
        assert result.ir.macs == 6 * 4 * 4 * calls**depth + 6 * 4 * 4 * 8


@FUZZ
@given(st.lists(HOSTILE_TEXT, min_size=1, max_size=6, unique=True), st.sampled_from([".json", ".keras", ".h5"]))
def test_fuzz_hostile_layer_names(tmp_path_factory, names, suffix):
    folder = tmp_path_factory.mktemp("names")
    config = make_hostile.lrcn(names)
    path = folder / f"model{suffix}"
    {".json": make_hostile.write_json, ".keras": make_hostile.write_keras, ".h5": make_hostile.write_h5}[suffix](
        path, config)
    analyse_checked(path, f"hostile names {suffix}")


def test_zz_report_fuzz_counts():
    """Prints the fuzzers' outcome counts (run with -s); at least one example of each kind ran."""
    print("\nhostile fuzz:", STATS)
    assert all(sum(counts.values()) for counts in STATS.values())
