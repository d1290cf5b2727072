"""What `helm template` makes of the chart (Helm built from its Go module by hack/build-helm.sh; no
cluster): the custom resources wait for the API to be served, CRDs are kept on uninstall, the operator
Deployment is one restricted replica with Recreate and the liveness probe on kopf's endpoint, values
reach the container, monitoring objects appear only when asked for, and the ClusterRole is exactly the
rule list in charts/inferop/README.md with a comment on every rule."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "inferop"
SERVED = ["--api-versions", "inferop.dev/v1alpha1/CostPolicy", "--api-versions", "inferop.dev/v1alpha1/GPUClass"]


@pytest.fixture(scope="module")
def helm() -> str:
    proc = subprocess.run(["bash", str(ROOT / "hack" / "build-helm.sh")], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        message = f"helm could not be built by hack/build-helm.sh:\n{proc.stderr[-3000:]}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return str(Path(proc.stdout.strip().splitlines()[-1]) / "helm")


def render(helm: str, *args: str, check: bool = True) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [helm, "template", "inferop", str(CHART), "--namespace", "inferop-system", *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def render_error(helm: str, *args: str) -> str:
    proc = subprocess.run([helm, "template", "inferop", str(CHART), *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0, "helm template should have failed"
    return proc.stderr


def kinds(docs: list[dict[str, Any]]) -> list[str]:
    return sorted(d["kind"] for d in docs)


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [d for d in docs if d["kind"] == kind]
    assert len(found) == 1, f"{len(found)} {kind}s"
    return found[0]


GPU_VALUES = ["-f", str(CHART / "ci" / "gpuclasses-values.yaml")]


def test_fresh_install_leaves_custom_resources_to_the_first_upgrade(helm: str) -> None:
    fresh = render(helm, *GPU_VALUES)
    assert "CostPolicy" not in kinds(fresh) and "GPUClass" not in kinds(fresh)
    assert kinds(fresh).count("CustomResourceDefinition") == 4
    upgrade = render(helm, *GPU_VALUES, *SERVED)
    assert kinds(upgrade).count("GPUClass") == 2 and kinds(upgrade).count("CostPolicy") == 1
    # CRDs managed outside the chart: the custom resources render right away.
    external = render(helm, *GPU_VALUES, "--set", "crds.install=false")
    assert "CustomResourceDefinition" not in kinds(external)
    assert kinds(external).count("GPUClass") == 2


def test_crds_and_custom_resources_are_kept_on_uninstall(helm: str) -> None:
    docs = render(helm, *GPU_VALUES, *SERVED)
    kept = [d for d in docs if d["kind"] in ("CustomResourceDefinition", "CostPolicy", "GPUClass")]
    assert len(kept) == 7
    for doc in kept:
        assert doc["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep", doc["metadata"]["name"]
        assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "Helm"
    others = [d for d in docs if d not in kept]
    assert all("helm.sh/resource-policy" not in (d["metadata"].get("annotations") or {}) for d in others)


def test_rendered_crds_are_the_generated_ones(helm: str) -> None:
    for crd in (d for d in render(helm) if d["kind"] == "CustomResourceDefinition"):
        source = yaml.safe_load((ROOT / "crds" / f"inferop.dev_{crd['spec']['names']['plural']}.yaml").read_text())
        assert crd["spec"] == source["spec"]
        assert crd["metadata"]["name"] == source["metadata"]["name"]


def test_operator_is_one_restricted_replica_with_recreate(helm: str) -> None:
    deploy = one(render(helm), "Deployment")
    spec = deploy["spec"]
    assert spec["replicas"] == 1 and spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    container = pod["containers"][0]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert (
        container["image"]
        == f"ghcr.io/inferop/inferop:{yaml.safe_load((CHART / 'Chart.yaml').read_text())['appVersion']}"
    )
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    # The probe asks kopf's liveness endpoint, which the args tell kopf to serve on that port.
    probe = container["livenessProbe"]["httpGet"]
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == probe["port"])
    assert container["args"][:2] == ["run", "--all-namespaces"]
    assert f"http://0.0.0.0:{port}{probe['path']}" == container["args"][container["args"].index("--liveness") + 1]


def env_of(docs: list[dict[str, Any]]) -> dict[str, Any]:
    container = one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_values_reach_the_operator(helm: str) -> None:
    env = env_of(render(helm))
    assert "INFEROP_PROMETHEUS_URL" not in env and env["INFEROP_METRICS_PORT"] == "8080"
    env = env_of(
        render(
            helm,
            "--set",
            "prometheus.url=http://prom.monitoring:9090",
            "--set",
            "operator.driftIntervalSeconds=30",
            "--set",
            "metrics.enabled=false",
        )
    )
    assert env["INFEROP_PROMETHEUS_URL"] == "http://prom.monitoring:9090"
    assert env["INFEROP_DRIFT_INTERVAL"] == "30"
    assert env["INFEROP_METRICS_PORT"] == "0"
    custom = render(helm, "-f", str(CHART / "ci" / "custom-values.yaml"), *SERVED)
    deploy = one(custom, "Deployment")
    assert deploy["spec"]["template"]["spec"]["containers"][0]["image"].endswith("@sha256:" + "0123456789abcdef" * 4)
    assert deploy["spec"]["template"]["spec"]["serviceAccountName"] == "platform-inferop"
    assert "ServiceAccount" not in kinds(custom) and "Service" not in kinds(custom)
    assert env_of(custom)["HTTPS_PROXY"] == {"secretKeyRef": {"name": "proxy", "key": "url", "optional": True}}
    assert one(custom, "CostPolicy")["metadata"]["name"] == "business-hours"
    binding = one(custom, "ClusterRoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "platform-inferop", "namespace": "inferop-system"}
    ]


def test_monitoring_objects_only_when_enabled(helm: str) -> None:
    default = kinds(render(helm))
    assert "ServiceMonitor" not in default and "PrometheusRule" not in default
    docs = render(helm, "-f", str(CHART / "ci" / "monitoring-values.yaml"))
    monitor = one(docs, "ServiceMonitor")
    service = one(docs, "Service")
    assert monitor["metadata"]["namespace"] == "monitoring"
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["inferop-system"]}
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"] == "metrics"
    # the series' namespace label is the InferenceService's, not the operator pod's
    assert monitor["spec"]["endpoints"][0]["honorLabels"] is True
    rule = one(docs, "PrometheusRule")
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert set(alerts) == {
        "InferopSLOBreach",
        "InferopBudgetExhausted",
        "InferopMetricsUnavailable",
        "InferopPrometheusQueryErrors",
    }
    assert all(r["labels"]["team"] == "platform" for r in alerts.values())
    error = render_error(helm, "--set", "serviceMonitor.enabled=true", "--set", "metrics.enabled=false")
    assert "serviceMonitor.enabled needs metrics.enabled" in error


def readme_rules() -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    """(apiGroups, resources, verbs) from the rule table of charts/inferop/README.md."""
    text = (CHART / "README.md").read_text()
    table = text[text.index("<!-- rbac-rules -->") : text.index("<!-- /rbac-rules -->")]
    rules = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].startswith("`"):
            continue
        group, resources, verbs = (tuple(re.findall(r"`([^`]*)`", c)) for c in cells[:3])
        rules.append((tuple("" if g == "core" else g for g in group), resources, verbs))
    return rules


def test_clusterrole_is_exactly_the_readme_rule_list(helm: str) -> None:
    role = next(d for d in render(helm) if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "inferop")
    rendered = [(tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"])) for r in role["rules"]]
    assert rendered == readme_rules()
    verbs = {v for r in role["rules"] for v in r["verbs"]}
    assert not verbs & {"*", "escalate", "bind", "impersonate", "deletecollection"}
    assert all("*" not in r["resources"] and "*" not in r["apiGroups"] for r in role["rules"])
    # update only on .../finalizers (blockOwnerDeletion); nothing reads or writes secrets, configmaps, nodes;
    # pods are only listed (the scheduler's reason for a service that is not ready), never read or written.
    assert all(r["resources"][0].endswith("/finalizers") for r in role["rules"] if "update" in r["verbs"])
    touched = {res for r in role["rules"] for res in r["resources"]}
    assert not touched & {"secrets", "configmaps", "nodes", "serviceaccounts"}
    assert [r["verbs"] for r in role["rules"] if "pods" in r["resources"]] == [["list"]]


def test_every_rule_says_who_needs_it() -> None:
    lines = (CHART / "templates" / "clusterrole.yaml").read_text().splitlines()
    rules = [i for i, line in enumerate(lines) if line.strip().startswith("- apiGroups:")]
    assert len(rules) == len(readme_rules())
    uncommented = [i + 1 for i in rules if not lines[i - 1].strip().startswith("#")]
    assert uncommented == [], f"rules without a comment right above them, at lines {uncommented}"


def test_labels_come_from_the_helpers(helm: str) -> None:
    for doc in render(helm, *GPU_VALUES, *SERVED, "-f", str(CHART / "ci" / "monitoring-values.yaml")):
        labels = doc["metadata"].get("labels") or {}
        for key in (
            "helm.sh/chart",
            "app.kubernetes.io/name",
            "app.kubernetes.io/instance",
            "app.kubernetes.io/managed-by",
        ):
            assert key in labels, f"{doc['kind']} {doc['metadata']['name']} lacks {key}"
