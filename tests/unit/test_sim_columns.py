"""The compiled engine's view of a trace (inferop.sim.engine, simcore): compact columns read in place.

A week of a rate trace is tens of millions of requests, so a drawn trace is float64/int64 arrays that
``simcore`` reads without a copy, a sub-range is a view, and a run's p95/p99 are selected, not sorted.
Pinned: a drawn rate trace is arrays; a run over arrays equals the run over the same requests as lists;
a slice view serves exactly what a copy of the slice serves; the selected percentiles are the
nearest-rank ones of a sort; empty columns are accepted; columns of different length are refused.
"""

from __future__ import annotations

import math
import random
from array import array
from pathlib import Path

import pytest

from inferop.cli.files import load_profile, load_trace
from inferop.sim.engine import Cluster, Requests, columns, latency_stats
from inferop.sim.run import percentile_of


def requests(n: int, seed: int = 1) -> tuple[list[float], list[int], list[int]]:
    rng = random.Random(seed)
    arrival = sorted(rng.uniform(0, 60) for _ in range(n))
    return arrival, [rng.randint(10, 2000) for _ in range(n)], [rng.randint(1, 400) for _ in range(n)]


def served(reqs: Requests, replicas: int = 2) -> list[float]:
    cluster = Cluster(load_profile(), reqs)
    cluster.start_warm(replicas)
    cluster.route_until(0, math.inf)
    cluster.finish()
    return reqs.e2e


def test_a_drawn_rate_trace_is_compact_arrays(tmp_path: Path) -> None:
    path = tmp_path / "rate.csv"
    path.write_text(
        "category_model,window_start_s,total_rate_rps,active_clients,max_client_rate_rps,rate_weighted_mean_cv\n"
        "m,0,5,1,1,1.0\nm,600,5,1,1,1.0\n"
    )
    trace = load_trace(path, seed=3)
    assert isinstance(trace.arrival, array) and trace.arrival.typecode == "d"
    assert isinstance(trace.input_tokens, array) and trace.input_tokens.typecode == "q"
    assert isinstance(trace.output_tokens, array) and trace.output_tokens.typecode == "q"
    assert list(trace.arrival) == sorted(trace.arrival) and 3000 < len(trace) < 9000


def test_a_run_over_arrays_equals_the_run_over_lists() -> None:
    arrival, inputs, outputs = requests(400)
    as_lists = served(Requests(arrival, inputs, outputs))
    as_arrays = served(Requests(array("d", arrival), array("q", inputs), array("q", outputs)))
    assert as_arrays == as_lists and not any(math.isnan(v) for v in as_lists)


def test_a_slice_view_serves_what_a_copy_of_the_slice_serves() -> None:
    arrival, inputs, outputs = requests(400)
    whole = columns(array("d", arrival), array("q", inputs), array("q", outputs))
    view = whole.slice(100, 250)
    assert len(view) == 150
    copied = served(Requests(arrival[100:250], inputs[100:250], outputs[100:250]))
    viewed = served(Requests(arrival[100:250], inputs[100:250], outputs[100:250], view))
    assert viewed == copied
    with pytest.raises(ValueError, match="no request range"):
        whole.slice(300, 500)


def test_empty_columns_are_accepted_and_unequal_ones_refused() -> None:
    assert len(columns(array("d"), array("q"), array("q"))) == 0
    assert len(columns([], [], [])) == 0
    with pytest.raises(ValueError, match="differ in length"):
        columns([1.0, 2.0], [1], [1, 2])


@pytest.mark.parametrize("n", [1, 2, 19, 20, 21, 100, 1001])
def test_selected_percentiles_are_the_nearest_rank_ones_of_a_sort(n: int) -> None:
    rng = random.Random(n)
    values = [round(rng.expovariate(1.0), 2) for _ in range(n)]  # rounded: ties on purpose
    count, within, p95, p99 = latency_stats(array("d", values), 1.0)
    assert count == n and within == sum(1 for v in values if v <= 1.0)
    assert (p95, p99) == (percentile_of(values, 0.95), percentile_of(values, 0.99))


def test_no_latencies_have_no_percentiles() -> None:
    count, within, p95, p99 = latency_stats(array("d"), 1.0)
    assert (count, within) == (0, 0) and math.isnan(p95) and math.isnan(p99)
