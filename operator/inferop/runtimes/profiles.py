"""The built-in runtime profiles, with the documentation each value comes from.

Every image tag, port, argument and metric name below is taken from the runtime's own
documentation or source; the URLs are in each profile's ``sources`` and in ``docs/runtimes.md``
(which also says which values could not be checked against a primary source). When a runtime
changes a metric name, change it here and in docs/runtimes.md together.
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
    # The image's entrypoint is `vllm serve`; its Docker guide passes the model (a Hub repo id or a
    # local directory) as `--model`. Since v0.20 `vllm serve` logs that the positional form is
    # preferred and `--model` "will be removed in a future version"; it still works in v0.30.0.
    return ModelArgs(args=("--model", ref, "--served-model-name", name))


VLLM = RuntimeProfile(
    name="vllm",
    # v0.30.0 (2026-09). Since v0.20 the unsuffixed tags are CUDA 13 builds (NVIDIA driver R580+);
    # `v0.30.0-cu129` is the CUDA 12.9 build for older drivers.
    image="vllm/vllm-openai:v0.30.0",
    port=8000,
    port_args=lambda port: ("--port", str(port)),
    model_args=_vllm_args,
    native_hf=True,
    command=(),  # the image's entrypoint is `vllm serve` (the OpenAI-compatible server)
    quantization_args={
        # AWQ/GPTQ checkpoints carry their quantization config; vLLM detects it and picks the Marlin
        # kernels. Passing `--quantization awq|gptq` explicitly forces the slower non-Marlin kernels.
        "awq": (),
        "gptq": (),
        "fp8": ("--quantization", "fp8"),  # FP8 checkpoints, or dynamic FP8 of a 16-bit model
        "bitsandbytes": ("--quantization", "bitsandbytes"),  # in-flight bitsandbytes quantization
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
            # Renamed from vllm:time_per_output_token_seconds in v0.11 (old name hidden in v0.12,
            # removed in v0.13); one observation per streamed output.
            "itl": Histogram("vllm:inter_token_latency_seconds"),
        },
        queue_depth="vllm:num_requests_waiting",
        request_rate="vllm:request_success_total",
        # Counters of prompt (prefill) and generated tokens, per engine; "_total" in the exposition.
        prompt_tokens="vllm:prompt_tokens_total",
        generation_tokens="vllm:generation_tokens_total",
    ),
    sources=(
        "https://docs.vllm.ai/en/stable/deployment/docker/",
        "https://docs.vllm.ai/en/stable/usage/metrics/",
        "https://github.com/vllm-project/vllm/blob/main/docs/design/metrics.md",
        "https://github.com/vllm-project/vllm/pull/24110",
        "https://docs.vllm.ai/en/latest/api/vllm/entrypoints/serve/instrumentator/health/",
        "https://github.com/vllm-project/vllm/blob/main/vllm/model_executor/layers/quantization/awq_marlin.py",
    ),
)


def _tgi_args(ref: str, is_repo: bool, name: str) -> ModelArgs:
    # text-generation-launcher --model-id takes a Hub repo id or a local directory.
    return ModelArgs(args=("--model-id", ref))


TGI = RuntimeProfile(
    name="tgi",
    # 3.3.6 (2025-09) is the last release: TGI has been in maintenance mode since 2025-12-11.
    image="ghcr.io/huggingface/text-generation-inference:3.3.6",
    port=8080,  # the image listens on 80 by default; --port 8080 avoids a privileged port for non-root
    port_args=lambda port: ("--port", str(port)),
    model_args=_tgi_args,
    native_hf=True,
    quantization_args={
        # Pre-quantized AWQ/GPTQ checkpoints are detected without the flag; passing it is harmless.
        "awq": ("--quantize", "awq"),
        "gptq": ("--quantize", "gptq"),
        "fp8": ("--quantize", "fp8"),
        "bitsandbytes": ("--quantize", "bitsandbytes"),  # 8-bit in TGI
        "int8": ("--quantize", "bitsandbytes"),
        "int4": ("--quantize", "bitsandbytes-nf4"),
    },
    quantization_hint="use awq, gptq, fp8, bitsandbytes or int8 (bitsandbytes 8-bit), or int4 (bitsandbytes-nf4)",
    env={**_CACHE_ENV, "HUGGINGFACE_HUB_CACHE": "/cache/huggingface", "USAGE_STATS": "off"},
    startup=_startup("/health"),
    readiness=Probe(path="/health", period_seconds=5),
    liveness=Probe(path="/health"),
    metrics=MetricSeries(
        # Served on the same port as the API. TGI has no time-to-first-token series.
        latency={
            "e2e": Histogram("tgi_request_duration"),
            # A histogram of each request's mean time per token, not of individual token gaps.
            "itl": Histogram("tgi_request_mean_time_per_token_duration"),
        },
        queue_depth="tgi_queue_size",
        request_rate="tgi_request_success",  # name as listed in TGI's metrics reference (no _total)
        # Histograms of each request's input length and generated tokens: their _sum is the counter.
        prompt_tokens="tgi_request_input_length_sum",
        generation_tokens="tgi_request_generated_tokens_sum",
    ),
    sources=(
        "https://huggingface.co/docs/text-generation-inference/quicktour",
        "https://github.com/huggingface/text-generation-inference/blob/main/docs/source/reference/launcher.md",
        "https://huggingface.co/docs/text-generation-inference/reference/metrics",
        "https://huggingface.co/docs/text-generation-inference/conceptual/quantization",
        "https://huggingface.co/docs/text-generation-inference/basic_tutorials/monitoring",
    ),
)


def _triton_args(ref: str, is_repo: bool, name: str) -> ModelArgs:
    return ModelArgs(args=("--model-repository", ref, "--metrics-port", "8002"))


TRITON = RuntimeProfile(
    name="triton",
    # 25.11 is the newest release in NVIDIA's release-notes index; 25.10 is a CUDA 13.0 build (driver
    # R575+, or the data-center forward-compatible branches listed in its notes).
    image="nvcr.io/nvidia/tritonserver:25.11-py3",
    port=8000,
    port_args=lambda port: ("--http-port", str(port)),
    extra_ports={"grpc": 8001, "metrics": 8002},
    command=("tritonserver",),
    model_args=_triton_args,
    env=dict(_CACHE_ENV),
    startup=_startup("/v2/health/ready"),
    readiness=Probe(path="/v2/health/ready", period_seconds=5),
    liveness=Probe(path="/v2/health/live"),
    metrics=MetricSeries(
        port="metrics",
        # Triton's default latency metrics are counters (cumulative microseconds), not histograms;
        # nv_inference_request_duration_us / nv_inference_request_success is a mean, not a percentile.
        mean_latency=MeanLatency(
            sum_counter="nv_inference_request_duration_us",
            count_counter="nv_inference_request_success",
            unit_seconds=1e-6,
        ),
        queue_depth="nv_inference_pending_request_count",
        request_rate="nv_inference_request_success",
    ),
    sources=(
        "https://github.com/triton-inference-server/server/blob/main/docs/user_guide/metrics.md",
        "https://docs.nvidia.com/deeplearning/triton-inference-server/user-guide/docs/protocol/README.html",
        "https://docs.nvidia.com/deeplearning/triton-inference-server/release-notes/rel-25-10.html",
        "https://docs.nvidia.com/deeplearning/sdk/inference-release-notes/running.html",
    ),
)


def _kserve_args(ref: str, is_repo: bool, name: str) -> ModelArgs:
    if is_repo:
        return ModelArgs(args=(f"--model_name={name}", f"--model_id={ref}"))
    return ModelArgs(args=(f"--model_name={name}", f"--model_dir={ref}"))


KSERVE = RuntimeProfile(
    name="kserve",
    # The `-gpu` tags carry the CUDA vLLM backend; the unsuffixed tags are the CPU build.
    image="kserve/huggingfaceserver:v0.20.0-gpu",
    port=8080,
    port_args=lambda port: (f"--http_port={port}",),
    model_args=_kserve_args,
    native_hf=True,
    quantization_hint=(
        "the vLLM backend reads quantization from the model artifact; remove the field, or pass vLLM's "
        "--quantization in spec.runtime.args"
    ),
    env={**_CACHE_ENV, "VLLM_NO_USAGE_STATS": "1"},
    startup=_startup("/v2/health/ready"),
    readiness=Probe(path="/v2/health/ready", period_seconds=5),
    liveness=Probe(path="/v2/health/live"),
    metrics=MetricSeries(
        # LLMs run on the embedded vLLM engine (the default backend) behind /openai/v1/...; its vllm:*
        # series are served on /metrics of the HTTP port. KServe's own request_predict_seconds only
        # times the v1/v2 predict path, so it stays empty for OpenAI-API traffic.
        latency={
            "e2e": Histogram("vllm:e2e_request_latency_seconds"),
            "ttft": Histogram("vllm:time_to_first_token_seconds"),
            "itl": Histogram("vllm:inter_token_latency_seconds"),
        },
        queue_depth="vllm:num_requests_waiting",
        request_rate="vllm:request_success_total",
        # Counters of prompt (prefill) and generated tokens, per engine; "_total" in the exposition.
        prompt_tokens="vllm:prompt_tokens_total",
        generation_tokens="vllm:generation_tokens_total",
    ),
    sources=(
        "https://kserve.github.io/website/docs/model-serving/generative-inference/overview",
        "https://kserve.github.io/website/docs/model-serving/generative-inference/autoscaling",
        "https://github.com/kserve/kserve/blob/master/python/huggingfaceserver/huggingfaceserver/__main__.py",
        "https://github.com/kserve/kserve/blob/master/python/kserve/kserve/model_server.py",
        "https://github.com/kserve/kserve/blob/master/python/kserve/kserve/metrics.py",
        "https://github.com/kserve/kserve/blob/master/python/huggingfaceserver/README.md",
    ),
)


def _torchserve_args(ref: str, is_repo: bool, name: str) -> ModelArgs:
    return ModelArgs(
        args=("--start", "--foreground", "--ncs", "--model-store", ref, "--models", "all", "--disable-token-auth"),
        env=(
            # Honoured only because the generated config sets enable_envvars_config=true.
            ("TS_METRICS_MODE", "prometheus"),
            ("LOG_LOCATION", "/cache/torchserve/logs"),
            ("METRICS_LOCATION", "/cache/torchserve/logs"),
            ("TEMP", "/cache/torchserve/tmp"),
        ),
    )


TORCHSERVE = RuntimeProfile(
    name="torchserve",
    # 0.12.0 (2024-09) is the last release: the project is archived (limited maintenance, no fixes).
    image="pytorch/torchserve:0.12.0-gpu",
    port=8080,
    port_args=None,  # the listener addresses are in the generated config.properties below
    extra_ports={"management": 8081, "metrics": 8082},
    # Without a config file TorchServe binds 127.0.0.1 and ignores TS_* variables, and metrics_mode
    # defaults to "log" (no Prometheus series). Write a config that binds 0.0.0.0 and selects
    # Prometheus, then exec torchserve with the container args ("$@").
    command=(
        "/bin/sh",
        "-c",
        "mkdir -p /cache/torchserve/logs /cache/torchserve/tmp && printf '%s\\n'"
        " inference_address=http://0.0.0.0:8080 management_address=http://0.0.0.0:8081"
        " metrics_address=http://0.0.0.0:8082 metrics_mode=prometheus enable_envvars_config=true"
        " number_of_netty_threads=32 job_queue_size=1000 > /cache/torchserve/config.properties"
        ' && exec torchserve --ts-config /cache/torchserve/config.properties "$@"',
        "torchserve",
    ),
    model_args=_torchserve_args,
    env=dict(_CACHE_ENV),
    startup=_startup("/ping"),
    readiness=Probe(path="/ping", period_seconds=5),
    liveness=Probe(path="/ping"),
    metrics=MetricSeries(
        port="metrics",
        # Counters only: cumulative microseconds / request count is a mean, not a percentile.
        mean_latency=MeanLatency(
            sum_counter="ts_inference_latency_microseconds",
            count_counter="ts_inference_requests_total",
            unit_seconds=1e-6,
        ),
        request_rate="ts_inference_requests_total",
    ),
    sources=(
        "https://pytorch.org/serve/metrics.html",
        "https://pytorch.org/serve/metrics_api.html",
        "https://pytorch.org/serve/configuration.html",
        "https://pytorch.org/serve/rest_api.html",
        "https://github.com/pytorch/serve/blob/master/ts/configs/metrics.yaml",
        "https://github.com/pytorch/serve/blob/master/frontend/server/src/main/java/org/pytorch/serve/util/ConfigManager.java",
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
