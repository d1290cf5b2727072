"""The fuzz generator of the cluster tier (tests/cluster/hostile.py) is deterministic per seed and
covers at least 100 distinct objects over all four kinds, each with an honest expectation."""

from __future__ import annotations

import json
from collections import Counter

from tests.cluster.hostile import EXPECTATIONS, KINDS, Case, cases


def _key(case: Case) -> str:
    return json.dumps(case.subject, sort_keys=True)


def test_at_least_100_distinct_objects_over_all_four_kinds() -> None:
    generated = cases(seed=17, run="abcde")
    assert len(generated) >= 100
    assert len({_key(c) for c in generated}) == len(generated), "two cases apply the same object"
    kinds = Counter(c.kind for c in generated)
    assert set(kinds) == set(KINDS) and min(kinds.values()) >= 10, kinds
    assert len({c.cid for c in generated}) == len(generated)


def test_deterministic_per_seed_and_seed_matters() -> None:
    a = [(c.cid, _key(c), c.expect) for c in cases(seed=3, run="r0001")]
    b = [(c.cid, _key(c), c.expect) for c in cases(seed=3, run="r0001")]
    c = [(x.cid, _key(x), x.expect) for x in cases(seed=4, run="r0001")]
    assert a == b
    assert a != c


def test_every_case_declares_a_checkable_expectation() -> None:
    for case in cases(seed=17, run="abcde"):
        assert case.expect in EXPECTATIONS
        if case.expect in ("reject", "report", "either"):
            assert case.fields, f"{case.cid} {case.mutation}: a rejection must name a field"
        if case.expect == "warn":
            assert case.token, f"{case.cid}: a warning must say what it is about"
        kind, name, _ = case.observe
        assert kind in ("InferenceService", "Tenant") and name, case.cid
        if case.kind in ("GPUClass", "CostPolicy"):
            assert kind == "InferenceService" and case.dependents, f"{case.cid}: no service shows the effect"


def test_names_carry_the_run_and_never_touch_the_shared_examples() -> None:
    for case in cases(seed=17, run="abcde"):
        if case.kind in ("GPUClass", "CostPolicy", "Tenant") and case.expect != "reject":
            assert case.subject["metadata"]["name"].startswith("fzabcde-"), case.cid
        assert case.subject["metadata"]["name"] not in ("h100", "l4", "default", "team-a")
        for ns in case.namespaces:
            assert ns.startswith("fzabcde-"), (case.cid, ns)
