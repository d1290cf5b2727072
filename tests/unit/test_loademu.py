"""hack/loademu.py: the load emulator's /metrics exposes what a real vLLM does, token counters included.

Covers: per Ready pod, ``vllm:prompt_tokens_total`` and ``vllm:generation_tokens_total`` grow by
``--prompt-tokens`` and ``--generation-tokens`` per completed request (defaults 600 and 200), beside
the request counter, so the cost controller's token-rate query reads the emulator as it reads vLLM.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def loademu() -> ModuleType:
    spec = importlib.util.spec_from_file_location("loademu", ROOT / "hack" / "loademu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["loademu"] = module
    spec.loader.exec_module(module)
    return module


def _value(text: str, metric: str, pod: str) -> float:
    match = re.search(rf'^{re.escape(metric)}\{{[^}}]*pod="{pod}"[^}}]*\}} ([0-9.]+)$', text, re.M)
    assert match, f"{metric} for {pod} not in /metrics"
    return float(match.group(1))


def _emulator(loademu: ModuleType, *extra: str) -> object:
    parser_args = ["--namespace", "demo", "--name", "chat", "--rps", "10", *extra]
    args = _parse(loademu, parser_args)
    return loademu.Emulator(args)


def _parse(loademu: ModuleType, argv: list[str]) -> object:
    import argparse

    parser = argparse.ArgumentParser()
    for flag, default in (
        ("--namespace", None),
        ("--name", None),
        ("--rps", 5.0),
        ("--trace", None),
        ("--capacity", 20.0),
        ("--service-ms", 100.0),
        ("--saturated-ms", 30000.0),
        ("--prompt-tokens", 600.0),
        ("--generation-tokens", 200.0),
    ):
        parser.add_argument(flag, default=default, type=None if flag in ("--namespace", "--name", "--trace") else float)
    return parser.parse_args(argv)


def test_default_token_counters_are_600_prompt_and_200_generated_per_request(loademu: ModuleType) -> None:
    emu = _emulator(loademu)
    emu.pods = ["chat-abc-x1", "chat-abc-x2"]  # type: ignore[attr-defined]
    emu.step(10.0)  # type: ignore[attr-defined]
    text = emu.render()  # type: ignore[attr-defined]
    assert "# TYPE vllm:prompt_tokens_total counter" in text
    assert "# TYPE vllm:generation_tokens_total counter" in text
    for pod in ("chat-abc-x1", "chat-abc-x2"):
        requests = _value(text, "vllm:request_success_total", pod)
        assert requests == pytest.approx(50.0)  # 10 rps over 2 pods for 10 s
        assert _value(text, "vllm:prompt_tokens_total", pod) == pytest.approx(600 * requests)
        assert _value(text, "vllm:generation_tokens_total", pod) == pytest.approx(200 * requests)


def test_token_counters_follow_the_flags(loademu: ModuleType) -> None:
    emu = _emulator(loademu, "--prompt-tokens", "100", "--generation-tokens", "50")
    emu.pods = ["chat-abc-x1"]  # type: ignore[attr-defined]
    emu.step(2.0)  # type: ignore[attr-defined]
    text = emu.render()  # type: ignore[attr-defined]
    assert _value(text, "vllm:prompt_tokens_total", "chat-abc-x1") == pytest.approx(100 * 20)
    assert _value(text, "vllm:generation_tokens_total", "chat-abc-x1") == pytest.approx(50 * 20)


def test_the_flags_exist_with_their_defaults(loademu: ModuleType) -> None:
    source = (ROOT / "hack" / "loademu.py").read_text()
    assert '"--prompt-tokens", type=float, default=600.0' in source
    assert '"--generation-tokens", type=float, default=200.0' in source
