"""A small Prometheus: scrapes of the simulated pods and the PromQL functions the policies read. Pure.

What this module is for: production autoscalers never see the true latency or load; they see
Prometheus answers computed from periodic scrapes. This module keeps, per pod, the samples a scrape
would have stored (vLLM's cumulative histogram buckets, request and token counters, the waiting-queue gauge,
dcgm-exporter's GPU utilization) and answers the queries with Prometheus' own algorithms:

- ``rate()``/``increase()``: ``extrapolated_rate``, as in Prometheus' ``promql/functions.go``: the
  difference between the first and last sample in the left-open range ``(t - w, t]``, extrapolated
  to the range boundaries when the samples reach within 1.1 average intervals of them (else by half
  an interval), never below the counter's zero point; fewer than two samples give no result.
- ``histogram_quantile()``: ``bucket_quantile``, as in ``promql/quantile.go``: buckets made monotonic,
  the rank ``q x count`` located, linear interpolation inside the bucket (from 0 for the first
  bucket); a rank in the +Inf bucket answers the highest finite bound; zero observations give NaN.
- ``avg_over_time()`` over the range; instant selectors see the last sample of a pod within the
  5-minute lookback until the pod stops (its staleness marker).

A pod is scraped every ``scrape_interval`` seconds from when it is Ready until it stops (a starting
vLLM server exports nothing). GPU utilization (DCGM_FI_DEV_GPU_UTIL) is the fraction of the time
since the previous scrape during which the engine had work (vLLM keeps kernels running whenever it
holds a request), in percent.

Must not: know which policy reads it.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from inferop.cost.signals import fraction_within
from inferop.sim.engine import Cluster, Pod

LOOKBACK_SECONDS = 300.0


def extrapolated_rate(times: Sequence[float], values: Sequence[float], start: float, end: float) -> float | None:
    """Prometheus ``rate(x[end-start])`` for one counter series with samples in ``(start, end]``.

    ``times``/``values`` are only the samples inside the range, oldest first. None = no result.
    """
    n = len(times)
    if n < 2:
        return None
    result = values[-1] - values[0]
    previous = values[0]
    for value in values[1:]:
        if value < previous:  # counter reset
            result += previous
        previous = value
    first, last = times[0], times[-1]
    sampled = last - first
    if sampled <= 0:
        return None
    average = sampled / (n - 1)
    threshold = average * 1.1
    to_start = first - start
    to_end = end - last
    if to_start >= threshold:
        to_start = average / 2
    if result > 0 and values[0] >= 0:
        to_zero = sampled * (values[0] / result)
        if to_zero < to_start:
            to_start = to_zero
    if to_end >= threshold:
        to_end = average / 2
    factor = (sampled + to_start + to_end) / sampled
    return result * factor / (end - start)


def bucket_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """Prometheus ``histogram_quantile(q, ...)`` over (upper bound, cumulative count) pairs."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(buckets, key=lambda b: b[0])
    if not ordered or not math.isinf(ordered[-1][0]):
        return math.nan
    # Merge equal bounds, then make the counts monotonic (rates of buckets can be slightly off).
    merged: list[list[float]] = []
    for bound, count in ordered:
        if merged and merged[-1][0] == bound:
            merged[-1][1] += count
        else:
            merged.append([bound, count])
    highest = -math.inf
    for bucket in merged:
        highest = max(highest, bucket[1])
        bucket[1] = highest
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = len(merged) - 1
    for i in range(len(merged) - 1):
        if merged[i][1] >= rank:
            b = i
            break
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    bucket_start = 0.0
    bucket_end = merged[b][0]
    count = merged[b][1]
    if b > 0:
        bucket_start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return bucket_start + (bucket_end - bucket_start) * (rank / count)


@dataclass
class PodSeries:
    """What Prometheus stored for one pod."""

    pod: Pod
    times: list[float] = field(default_factory=list)
    buckets: list[list[int]] = field(default_factory=list)  # cumulative, last = +Inf
    success: list[float] = field(default_factory=list)
    #: vllm:prompt_tokens_total + vllm:generation_tokens_total (the token rate sums both).
    tokens: list[float] = field(default_factory=list)
    waiting: list[float] = field(default_factory=list)
    util: list[float] = field(default_factory=list)
    last_busy: float = 0.0
    last_time: float = 0.0

    def window(self, start: float, end: float) -> tuple[int, int]:
        """Index range of the samples in ``(start, end]``."""
        return bisect.bisect_right(self.times, start), bisect.bisect_right(self.times, end)

    def stale(self, t: float) -> bool:
        stop = self.pod.stop
        return stop is not None and stop <= t


class Prometheus:
    """Scrapes a Cluster and answers the queries of every policy."""

    def __init__(self, cluster: Cluster, scrape_interval: float = 30.0) -> None:
        self.cluster = cluster
        self.scrape_interval = scrape_interval
        self.bounds = cluster.bounds
        self.series: dict[int, PodSeries] = {}
        # The series not yet stale (their pod has not stopped): what instant selectors look at.
        # Queries come in time order, so a series stale once stays stale.
        self._unstale: dict[int, PodSeries] = {}
        # The last sum by (le) of bucket rates (the latency quantile and the attainment read the same one).
        self._rates_key: tuple[float, float, int] | None = None
        self._rates: list[tuple[float, float]] | None = None
        self._scrapes = 0

    def scrape(self, t: float) -> None:
        """One scrape of every pod that serves /metrics (call ``cluster.advance_all(t)`` first)."""
        self._scrapes += 1
        tokens = {pod_id: prompt + generated for pod_id, prompt, generated in self.cluster.core.token_info()}
        for pod_id, ready_at, completed, busy, waiting, cumulative in self.cluster.core.scrape_info():
            series = self.series.get(pod_id)
            if series is None:
                series = PodSeries(Pod(self.cluster.core, pod_id), last_busy=busy, last_time=ready_at)
                self.series[pod_id] = series
                self._unstale[pod_id] = series
            elapsed = t - series.last_time
            util = 100.0 * (busy - series.last_busy) / elapsed if elapsed > 0 else 0.0
            series.times.append(t)
            series.buckets.append(cumulative)
            series.success.append(float(completed))
            series.tokens.append(float(tokens.get(pod_id, 0)))
            series.waiting.append(float(waiting))
            series.util.append(min(100.0, max(0.0, util)))
            series.last_busy = busy
            series.last_time = t

    def _in_range(self, t: float, window: float) -> list[tuple[PodSeries, int, int]]:
        out = []
        for series in self.series.values():
            if series.times and series.times[-1] > t - window:
                lo, hi = series.window(t - window, t)
                if hi > lo:
                    out.append((series, lo, hi))
        return out

    # -- PromQL ----------------------------------------------------------------------------------

    def latency_quantile(self, q: float, t: float, window: float) -> float | None:
        """``histogram_quantile(q, sum by (le) (rate(<latency>_bucket[w])))`` in seconds.

        None = no series (an empty answer); NaN = no requests in the window.
        """
        buckets = self._bucket_rates(t, window)
        return None if buckets is None else bucket_quantile(q, buckets)

    def slo_attainment(self, seconds: float, t: float, window: float) -> float | None:
        """What the operator reads from ``sum by (le) (rate(<latency>_bucket[w]))``: the fraction of the
        window's requests within ``seconds`` (``inferop.cost.signals.fraction_within``, the same code).
        None = no series; NaN = no requests."""
        buckets = self._bucket_rates(t, window)
        return None if buckets is None else fraction_within(buckets, seconds)

    def _bucket_rates(self, t: float, window: float) -> list[tuple[float, float]] | None:
        """``sum by (le) (rate(<latency>_bucket[w]))`` as (le, rate) pairs, +Inf last; None = no series."""
        key = (t, window, self._scrapes)
        if key != self._rates_key:
            self._rates_key, self._rates = key, self._sum_bucket_rates(t, window)
        return None if self._rates is None else list(self._rates)

    def _sum_bucket_rates(self, t: float, window: float) -> list[tuple[float, float]] | None:
        sums = [0.0] * (len(self.bounds) + 1)
        found = False
        start = t - window
        for series, lo, hi in self._in_range(t, window):
            if hi - lo < 2:
                continue
            # extrapolated_rate() of every bucket at once, step for step: a pod's counters never reset
            # (the model restarts no process), so each bucket's increase is its last sample minus its first.
            first_t, last_t = series.times[lo], series.times[hi - 1]
            sampled = last_t - first_t
            if sampled <= 0:
                continue
            average = sampled / (hi - lo - 1)
            threshold = average * 1.1
            to_start = first_t - start
            to_end = t - last_t
            if to_start >= threshold:
                to_start = average / 2
            if to_end >= threshold:
                to_end = average / 2
            first, last = series.buckets[lo], series.buckets[hi - 1]
            for i in range(len(sums)):
                v0 = first[i]
                result = last[i] - v0
                extend = to_start
                if result > 0 and v0 >= 0:
                    to_zero = sampled * (v0 / result)
                    if to_zero < extend:
                        extend = to_zero
                sums[i] += result * ((sampled + extend + to_end) / sampled) / (t - start)
            found = True
        if not found:
            return None
        bounds = [*self.bounds, math.inf]
        return list(zip(bounds, sums, strict=True))

    def request_rate(self, t: float, window: float) -> float | None:
        """``sum(rate(<requests>_total[w]))``, requests per second; None = no series."""
        total = 0.0
        found = False
        for series, lo, hi in self._in_range(t, window):
            rate = extrapolated_rate(series.times[lo:hi], series.success[lo:hi], t - window, t)
            if rate is not None:
                total += rate
                found = True
        return total if found else None

    def token_rate(self, t: float, window: float) -> float | None:
        """``sum(rate(vllm:prompt_tokens_total[w])) + sum(rate(vllm:generation_tokens_total[w]))``,
        tokens per second; None = no series."""
        total = 0.0
        found = False
        for series, lo, hi in self._in_range(t, window):
            rate = extrapolated_rate(series.times[lo:hi], series.tokens[lo:hi], t - window, t)
            if rate is not None:
                total += rate
                found = True
        return total if found else None

    def _avg_over_time(self, attribute: str, t: float, window: float) -> list[float]:
        out = []
        for series, lo, hi in self._in_range(t, window):
            values: list[float] = getattr(series, attribute)[lo:hi]
            out.append(sum(values) / len(values))
        return out

    def queue_depth_avg(self, t: float, window: float) -> float | None:
        """``avg(sum by (pod) (avg_over_time(<waiting>[w])))``: waiting requests per replica."""
        values = self._avg_over_time("waiting", t, window)
        return sum(values) / len(values) if values else None

    def gpu_utilization_avg(self, t: float, window: float) -> float | None:
        """``avg(avg_over_time(DCGM_FI_DEV_GPU_UTIL[w]))`` over the service's GPUs, percent."""
        values = self._avg_over_time("util", t, window)
        return sum(values) / len(values) if values else None

    def _instant(self, attribute: str, t: float) -> dict[int, float]:
        out: dict[int, float] = {}
        for pod_id, series in list(self._unstale.items()):
            if series.stale(t):
                del self._unstale[pod_id]
                continue
            if not series.times:
                continue
            i = bisect.bisect_right(series.times, t) - 1
            if i >= 0 and series.times[i] > t - LOOKBACK_SECONDS:
                out[pod_id] = getattr(series, attribute)[i]
        return out

    def queue_depth_sum(self, t: float) -> float | None:
        """``sum(<waiting>)`` (instant); None = no series."""
        values = self._instant("waiting", t)
        return sum(values.values()) if values else None

    def queue_depth_by_pod(self, t: float) -> dict[int, float]:
        """``vllm:num_requests_waiting`` per pod (instant), as a metrics adapter serves it to the HPA."""
        return self._instant("waiting", t)

    def gpu_utilization_by_pod(self, t: float) -> dict[int, float]:
        """``DCGM_FI_DEV_GPU_UTIL`` per pod (instant), as a metrics adapter serves it to the HPA."""
        return self._instant("util", t)
