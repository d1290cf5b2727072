"""Runtime profiles: what each built-in model server needs and which Prometheus series it exposes.

Covers: every spec.runtime.name has a profile; built-ins have an image, a port and HTTP probes on the
named http port (startup probe patient enough for a large model load); vLLM's latency histograms for
e2e/ttft/itl; quantization values map to server arguments, and unsupported ones raise
``UnsupportedByRuntime`` naming spec.model.quantization; TGI has no TTFT histogram, so asking for it
names spec.autoscaling.slo.latency.metric; Triton and TorchServe fall back to mean latency for e2e only;
model arguments carry the served name and the model reference.
"""

from __future__ import annotations

import pytest

from inferop.api.inferenceservice import QUANTIZATIONS, RUNTIMES
from inferop.runtimes import PROFILES, Histogram, MeanLatency, UnsupportedByRuntime, get_profile

BUILT_INS = [name for name in RUNTIMES if name != "custom"]


def test_every_runtime_name_the_api_accepts_has_a_profile() -> None:
    assert set(PROFILES) == set(RUNTIMES)
    for name in RUNTIMES:
        assert get_profile(name).name == name


def test_unknown_runtime_lookup_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="vllm"):
        get_profile("ollama")


@pytest.mark.parametrize("name", BUILT_INS)
def test_built_in_profile_has_image_port_and_probes(name: str) -> None:
    profile = get_profile(name)
    assert profile.image and ":" in profile.image.rsplit("/", 1)[-1], "images are pinned to a tag"
    assert not profile.image.endswith(":latest")
    assert 1024 <= profile.port <= 65535, "a non-root server cannot bind a privileged port"
    for probe in (profile.startup, profile.readiness, profile.liveness):
        assert probe is not None and probe.path.startswith("/") and probe.port == "http"
    assert profile.startup is not None
    # A large model can take many minutes to load; liveness must not kill it while it does.
    assert profile.startup.period_seconds * profile.startup.failure_threshold >= 15 * 60
    assert profile.sources, "every value comes from the runtime's documentation"


@pytest.mark.parametrize("name", BUILT_INS)
def test_extra_ports_do_not_collide_with_the_http_port(name: str) -> None:
    profile = get_profile(name)
    assert "http" not in profile.extra_ports
    assert profile.port not in profile.extra_ports.values()
    assert len(set(profile.extra_ports.values())) == len(profile.extra_ports)


@pytest.mark.parametrize("name", RUNTIMES)
def test_metrics_port_is_a_port_the_container_declares(name: str) -> None:
    profile = get_profile(name)
    assert profile.metrics.port == "http" or profile.metrics.port in profile.extra_ports


def test_custom_profile_has_no_image_and_no_probes() -> None:
    custom = get_profile("custom")
    assert custom.image == ""  # spec.runtime.image is required instead
    assert custom.readiness is None and custom.liveness is None and custom.startup is None
    assert custom.run_as_user is None  # the image's own non-root user is kept


def test_vllm_latency_series_for_each_slo_metric() -> None:
    vllm = get_profile("vllm")
    assert vllm.latency_series("e2e") == Histogram("vllm:e2e_request_latency_seconds")
    assert vllm.latency_series("ttft") == Histogram("vllm:time_to_first_token_seconds")
    assert vllm.latency_series("itl") == Histogram("vllm:inter_token_latency_seconds")
    assert vllm.metrics.queue_depth == "vllm:num_requests_waiting"


def test_tgi_has_no_ttft_series_and_says_which_field_to_change() -> None:
    tgi = get_profile("tgi")
    assert isinstance(tgi.latency_series("e2e"), Histogram)
    assert isinstance(tgi.latency_series("itl"), Histogram)
    with pytest.raises(UnsupportedByRuntime) as info:
        tgi.latency_series("ttft")
    assert info.value.field_path == "spec.autoscaling.slo.latency.metric"
    assert str(info.value).startswith("spec.autoscaling.slo.latency.metric: runtime tgi")
    assert "e2e" in str(info.value) and "itl" in str(info.value)  # what it does have


@pytest.mark.parametrize("name", ["triton", "torchserve"])
def test_counter_only_runtimes_fall_back_to_mean_latency_for_e2e_only(name: str) -> None:
    profile = get_profile(name)
    series = profile.latency_series("e2e")
    assert isinstance(series, MeanLatency)
    assert series.unit_seconds == pytest.approx(1e-6)  # both count microseconds
    for metric in ("ttft", "itl"):
        with pytest.raises(UnsupportedByRuntime) as info:
            profile.latency_series(metric)
        assert info.value.field_path == "spec.autoscaling.slo.latency.metric"


@pytest.mark.parametrize("name", RUNTIMES)
def test_every_runtime_can_measure_an_e2e_slo_or_says_why_not(name: str) -> None:
    profile = get_profile(name)
    if profile.metrics.latency or profile.metrics.mean_latency:
        assert isinstance(profile.latency_series("e2e"), (Histogram, MeanLatency))
    else:
        with pytest.raises(UnsupportedByRuntime, match="spec.autoscaling.slo.latency.metric"):
            profile.latency_series("e2e")


@pytest.mark.parametrize(("name", "value", "args"), [
    ("vllm", "fp8", ("--quantization", "fp8")),
    ("vllm", "bitsandbytes", ("--quantization", "bitsandbytes")),
    ("tgi", "gptq", ("--quantize", "gptq")),
    ("tgi", "int4", ("--quantize", "bitsandbytes-nf4")),
])
def test_quantization_maps_to_server_arguments(name: str, value: str, args: tuple[str, ...]) -> None:
    assert get_profile(name).quantization(value) == args


@pytest.mark.parametrize("value", ["awq", "gptq"])
def test_vllm_accepts_prequantized_checkpoints_without_forcing_a_kernel(value: str) -> None:
    # vLLM detects AWQ/GPTQ from the checkpoint; an explicit flag would force the slower kernels.
    assert "--quantization" not in get_profile("vllm").quantization(value)


@pytest.mark.parametrize("name", RUNTIMES)
def test_no_quantization_means_no_arguments(name: str) -> None:
    assert get_profile(name).quantization(None) == ()


@pytest.mark.parametrize(("name", "value"), [("vllm", "int4"), ("vllm", "int8"), ("triton", "awq"),
                                             ("kserve", "fp8"), ("torchserve", "gptq"), ("custom", "awq")])
def test_unsupported_quantization_names_the_field_and_the_supported_values(name: str, value: str) -> None:
    profile = get_profile(name)
    with pytest.raises(UnsupportedByRuntime) as info:
        profile.quantization(value)
    assert info.value.field_path == "spec.model.quantization"
    message = str(info.value)
    assert message.startswith("spec.model.quantization: ") and repr(value) in message
    for supported in profile.quantization_args:
        assert supported in message


@pytest.mark.parametrize("name", RUNTIMES)
def test_every_mapped_quantization_is_a_value_the_api_accepts(name: str) -> None:
    assert set(get_profile(name).quantization_args) <= set(QUANTIZATIONS)


@pytest.mark.parametrize("name", BUILT_INS)
def test_model_arguments_carry_the_model_reference(name: str) -> None:
    profile = get_profile(name)
    model = profile.model_args("/mnt/models", False, "chat")
    carried = " ".join(model.args) + " " + " ".join(v for _, v in model.env)
    assert "/mnt/models" in carried


def test_vllm_serves_the_model_under_the_service_name() -> None:
    args = get_profile("vllm").model_args("meta-llama/Llama-3.1-8B-Instruct", True, "chat").args
    assert args[args.index("--model") + 1] == "meta-llama/Llama-3.1-8B-Instruct"
    assert args[args.index("--served-model-name") + 1] == "chat"


def test_kserve_uses_model_id_for_hub_repos_and_model_dir_for_files() -> None:
    kserve = get_profile("kserve")
    assert "--model_id=org/m" in kserve.model_args("org/m", True, "embed").args
    assert "--model_dir=/mnt/models" in kserve.model_args("/mnt/models", False, "embed").args


def test_custom_runtime_gets_the_model_uri_in_the_environment() -> None:
    model = get_profile("custom").model_args("/mnt/models", False, "x")
    assert dict(model.env) == {"MODEL_URI": "/mnt/models"} and model.args == ()


# -- load unit and cold start --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "prompt", "generated"),
    [
        ("vllm", "vllm:prompt_tokens_total", "vllm:generation_tokens_total"),
        ("kserve", "vllm:prompt_tokens_total", "vllm:generation_tokens_total"),
        ("tgi", "tgi_request_input_length_sum", "tgi_request_generated_tokens_sum"),
    ],
)
def test_llm_runtimes_export_token_counters_and_load_is_tokens(name: str, prompt: str, generated: str) -> None:
    profile = get_profile(name)
    assert profile.metrics.token_counters == (prompt, generated)
    assert profile.load_unit == "tokens"


@pytest.mark.parametrize("name", ["triton", "torchserve", "custom"])
def test_runtimes_without_token_counters_measure_load_in_requests(name: str) -> None:
    profile = get_profile(name)
    assert profile.metrics.token_counters is None
    assert profile.load_unit == "requests"


def test_every_profile_has_a_default_cold_start() -> None:
    assert all(p.cold_start_seconds == 120 for p in PROFILES.values())


def test_token_counters_come_in_pairs() -> None:
    from inferop.runtimes import MetricSeries

    with pytest.raises(ValueError, match="both token counters"):
        MetricSeries(prompt_tokens="a_total")
