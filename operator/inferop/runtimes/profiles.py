"""The built-in runtime profiles, with the documentation each value comes from.

Every image tag, port, argument and metric name below is taken from the runtime's own
documentation; the URL is in each profile's ``sources`` and in ``docs/runtimes.md``. When a
runtime changes a metric name, change it here and in docs/runtimes.md together.
"""

from __future__ import annotations

from inferop.runtimes.profile import (
    Histogram,
    MeanLatency,
    MetricSeries,
    ModelArgs,
    Probe,
    RuntimeProfile,
)

# A model load can take many minutes (tens of GB of weights): the startup probe allows 30 minutes
# before liveness takes over, as the vLLM production-stack and KServe charts do for LLMs.
_STARTUP_PERIOD = 10
_STARTUP_FAILURES = 180


def _startup(path: str, port: str = "http") -> Probe:
    return Probe(path=path, port=port, period_seconds=_STARTUP_PERIOD, failure_threshold=_STARTUP_FAILURES)


_CACHE_ENV = {"HOME": "/cache", "HF_HOME": "/cache/huggingface", "XDG_CACHE_HOME": "/cache"}


def _vllm_args(ref: str, is_repo: bool, name: str) -> ModelArgs:
    # `vllm serve` takes a Hugging Face repo id or a local directory as --model.
    return ModelArgs(args=("--model", ref, "--served-model-name", name))


VLLM = RuntimeProfile(
    name="vllm",
    image="vllm/vllm-openai:v0.11.0",
    port=8000,
    model_args=_vllm_args,
    native_hf=True,
    command=(),  # the image's entrypoint is the OpenAI-compatible server
    quantization_args={
        "awq": ("--quantization", "awq"),
        "gptq": ("--quantization", "gptq"),
        "fp8": ("--quantization", "fp8"),
        "bitsandbytes": ("--quantization", "bitsandbytes"),
    },
    quantization_hint="use awq, gptq, fp8 or bitsandbytes, or pass --quantization in spec.runtime.args",
    env={**_CACHE_ENV, "VLLM_NO_USAGE_STATS": "1"},
    startup=_startup("/health"),
    readiness=Probe(path="/health", period_seconds=5),
    liveness=Probe(path="/health", period_seconds=10, failure_threshold=3),
    metrics=MetricSeries(
        latency={
            "e2e": Histogram("vllm:e2e_request_latency_seconds"),
            "ttft": Histogram("vllm:time_to_first_token_seconds"),
            "itl": Histogram("vllm:inter_token_latency_seconds"),
        },
        queue_depth="vllm:num_requests_waiting",
        request_rate="vllm:request_success_total",
    ),
    sources=(
        "https://docs.vllm.ai/en/latest/deployment/docker.html",
        "https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
        "https://docs.vllm.ai/en/latest/design/metrics.html",
        "https://docs.vllm.ai/en/latest/features/quantization/index.html",
    ),
)


def _tgi_args(ref: str, is_repo: bool, name: str) -> ModelArgs:
    # text-generation-launcher --model-id takes a Hub repo id or a local path.
    return ModelArgs(args=("--model-id", ref, "--port", "8080"))


TGI = RuntimeProfile(
    name="tgi",
    image="ghcr.io/huggingface/text-generation-inference:3.3.6",
    port=8080,  # the image listens on 80 by default; --port 8080 avoids a privileged port for non-root
    model_args=_tgi_args,
    native_hf=True,
    quantization_args={
        "awq": ("--quantize", "awq"),
        "gptq": ("--quantize", "gptq"),
        "fp8": ("--quantize", "fp8"),
        "bitsandbytes": ("--quantize", "bitsandbytes"),
        "int4": ("--quantize", "bitsandbytes-nf4"),
    },
    quantization_hint="use awq, gptq, fp8, bitsandbytes or int4 (bitsandbytes-nf4)",
    env={**_CACHE_ENV, "HUGGINGFACE_HUB_CACHE": "/cache/huggingface"},
    startup=_startup("/health"),
    readiness=Probe(path="/health", period_seconds=5),
    liveness=Probe(path="/health"),
    metrics=MetricSeries(
        latency={
            "e2e": Histogram("tgi_request_duration"),
            "itl": Histogram("tgi_request_mean_time_per_token_duration"),
        },
        queue_depth="tgi_queue_size",
        request_rate="tgi_request_success",
    ),
    sources=(
        "https://huggingface.co/docs/text-generation-inference/quicktour",
        "https://huggingface.co/docs/text-generation-inference/reference/launcher",
        "https://huggingface.co/docs/text-generation-inference/reference/metrics",
    ),
)


def _triton_args(ref: str, is_repo: bool, name: str) -> ModelArgs:
    return ModelArgs(args=("--model-repository", ref, "--http-port", "8000", "--metrics-port", "8002"))


TRITON = RuntimeProfile(
    name="triton",
    image="nvcr.io/nvidia/tritonserver:25.01-py3",
    port=8000,
    extra_ports={"grpc": 8001, "metrics": 8002},
    command=("tritonserver",),
    model_args=_triton_args,
    startup=_startup("/v2/health/ready"),
    readiness=Probe(path="/v2/health/ready", period_seconds=5),
    liveness=Probe(path="/v2/health/live"),
    metrics=MetricSeries(
        port="metrics",
        # Triton's latency metrics are counters (cumulative microseconds), not histograms.
        mean_latency=MeanLatency(
            sum_counter="nv_inference_request_duration_us",
            count_counter="nv_inference_request_success",
            unit_seconds=1e-6,
        ),
        queue_depth="nv_inference_pending_request_count",
        request_rate="nv_inference_request_success",
    ),
    sources=(
        "https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/user_guide/metrics.html",
        "https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/customization_guide/inference_protocols.html",
        "https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/getting_started/quickstart.html",
    ),
)


def _kserve_args(ref: str, is_repo: bool, name: str) -> ModelArgs:
    if is_repo:
        return ModelArgs(args=(f"--model_name={name}", f"--model_id={ref}", "--http_port=8080"))
    return ModelArgs(args=(f"--model_name={name}", f"--model_dir={ref}", "--http_port=8080"))


KSERVE = RuntimeProfile(
    name="kserve",
    image="kserve/huggingfaceserver:v0.15.2",
    port=8080,
    model_args=_kserve_args,
    native_hf=True,
    env=dict(_CACHE_ENV),
    startup=_startup("/v2/health/ready"),
    readiness=Probe(path="/v2/health/ready", period_seconds=5),
    liveness=Probe(path="/v2/health/live"),
    metrics=MetricSeries(
        latency={"e2e": Histogram("request_predict_seconds")},
        request_rate="request_predict_seconds_count",
    ),
    sources=(
        "https://kserve.github.io/website/latest/modelserving/v1beta1/llm/huggingface/",
        "https://kserve.github.io/website/latest/modelserving/observability/prometheus_metrics/",
        "https://github.com/kserve/kserve/blob/master/python/kserve/kserve/metrics.py",
    ),
)


def _torchserve_args(ref: str, is_repo: bool, name: str) -> ModelArgs:
    return ModelArgs(
        args=("--start", "--foreground", "--model-store", ref, "--models", "all", "--disable-token-auth"),
        env=(("TS_METRICS_MODE", "prometheus"),),
    )


TORCHSERVE = RuntimeProfile(
    name="torchserve",
    image="pytorch/torchserve:0.12.0-gpu",
    port=8080,
    extra_ports={"management": 8081, "metrics": 8082},
    command=("torchserve",),
    model_args=_torchserve_args,
    startup=_startup("/ping"),
    readiness=Probe(path="/ping", period_seconds=5),
    liveness=Probe(path="/ping"),
    metrics=MetricSeries(
        port="metrics",
        mean_latency=MeanLatency(
            sum_counter="ts_inference_latency_microseconds",
            count_counter="ts_inference_requests_total",
            unit_seconds=1e-6,
        ),
        request_rate="ts_inference_requests_total",
    ),
    sources=(
        "https://pytorch.org/serve/metrics.html",
        "https://pytorch.org/serve/configuration.html",
        "https://pytorch.org/serve/server.html",
    ),
)

CUSTOM = RuntimeProfile(
    name="custom",
    image="",  # spec.runtime.image is required (CEL and the model enforce it)
    port=8080,
    model_args=lambda ref, is_repo, name: ModelArgs(env=(("MODEL_URI", ref),)),
    native_hf=False,
    quantization_hint="a custom runtime receives no quantization setting; pass it in spec.runtime.args",
    run_as_user=None,  # runAsNonRoot is still enforced: the image must declare a non-root user
    readiness=None,
    liveness=None,
    sources=(),
)

PROFILES: dict[str, RuntimeProfile] = {p.name: p for p in (VLLM, TGI, TRITON, KSERVE, TORCHSERVE, CUSTOM)}


def get_profile(name: str) -> RuntimeProfile:
    try:
        return PROFILES[name]
    except KeyError:
        raise KeyError(f"unknown runtime {name!r}; known: {', '.join(PROFILES)}") from None
