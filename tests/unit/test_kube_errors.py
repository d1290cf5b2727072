"""How ``inferop.reconcile.kube`` classifies the API server's answers (issue 17, item 5).

Covers: a server-side apply schema error, which the API server answers with HTTP 500, is ``Rejected``
(reported, not retried as an outage), while a real 5xx/429 stays ``Transient``; 404 and 409 keep their
classes; ``Rejected`` is a KubeError but not a Transient, so the reconcile loop reports it as ApplyFailed.
"""

from __future__ import annotations

import json

import pytest

from inferop.reconcile.kube import Conflict, KubeError, NotFound, Rejected, Transient, _raise_for

SSA_SCHEMA_ERROR = json.dumps(
    {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": "failed to create typed patch object (t-1/chat; apps/v1, Kind=Deployment): "
        ".spec.template.spec.affinity.nodeAffinity.foo: field not declared in schema",
        "reason": "InternalError",
        "code": 500,
    }
)


def test_a_server_side_apply_schema_error_is_rejected_not_transient() -> None:
    with pytest.raises(Rejected) as err:
        _raise_for(500, SSA_SCHEMA_ERROR.encode())
    assert not isinstance(err.value, Transient) and isinstance(err.value, KubeError)
    assert "nodeAffinity.foo: field not declared in schema" in err.value.message


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, '{"message": "etcdserver: request timed out"}'),
        (503, "service unavailable"),
        (429, '{"message": "Too many requests"}'),
        (504, ""),
    ],
)
def test_outages_stay_transient(status: int, body: str) -> None:
    with pytest.raises(Transient):
        _raise_for(status, body)


def test_other_classes_are_unchanged() -> None:
    with pytest.raises(NotFound):
        _raise_for(404, "{}")
    with pytest.raises(Conflict):
        _raise_for(409, "{}")
    with pytest.raises(KubeError) as err:
        _raise_for(422, '{"message": "spec.replicas: Invalid value"}')
    assert type(err.value) is KubeError
