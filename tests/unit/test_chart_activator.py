"""The activator in the chart (`helm template`, Helm built by hack/build-helm.sh; no cluster): off by
default; on, it is a Deployment of two or more restricted replicas that roll without going below the
count, a PodDisruptionBudget and a Service that select exactly its pods (never the operator's, and the
operator's selectors never its), its own ServiceAccount with exactly the rules of the README table
(a ClusterRole, or a Role per namespace with `activator.namespaces`), and a ValidatingAdmissionPolicy
whose CEL (evaluated with cel-python on real patch shapes) lets that ServiceAccount change only the
activation annotation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.unit.test_chart_render import CHART, helm, one, render, render_error  # noqa: F401

ON = ["-f", str(CHART / "ci" / "activator-values.yaml")]
NAMESPACED = ["-f", str(CHART / "ci" / "activator-namespaced-values.yaml")]


def activator_objects(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if (d["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == "activator"]


def deployments(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in docs if d["kind"] == "Deployment"}


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_off_by_default(helm: str) -> None:  # noqa: F811
    assert activator_objects(render(helm)) == []
    assert list(deployments(render(helm))) == ["operator"]


def test_two_restricted_replicas_that_roll_without_a_gap(helm: str) -> None:  # noqa: F811
    docs = render(helm, *ON)
    deploy = deployments(docs)["activator"]
    spec = deploy["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["image"] == deployments(docs)["operator"]["spec"]["template"]["spec"]["containers"][0]["image"]
    args = container["args"]
    assert args[0] == "activator"
    # it drains within the grace period, with 5 s to spare
    assert f"--shutdown-seconds={pod['terminationGracePeriodSeconds'] - 5}" in args
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert f"--port={ports['proxy']}" in args and f"--admin-port={ports['admin']}" in args
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "admin"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "admin"}
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"


def test_selectors_never_cross_between_operator_and_activator(helm: str) -> None:  # noqa: F811
    docs = render(helm, *ON)
    ops, act = deployments(docs)["operator"], deployments(docs)["activator"]
    op_labels = ops["spec"]["template"]["metadata"]["labels"]
    act_labels = act["spec"]["template"]["metadata"]["labels"]
    assert selects(act["spec"]["selector"]["matchLabels"], act_labels)
    assert not selects(ops["spec"]["selector"]["matchLabels"], act_labels)
    assert not selects(act["spec"]["selector"]["matchLabels"], op_labels)
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    assert not selects(services["inferop-metrics"]["spec"]["selector"], act_labels)
    svc = services["inferop-activator"]
    assert selects(svc["spec"]["selector"], act_labels) and not selects(svc["spec"]["selector"], op_labels)
    assert {p["name"]: p["targetPort"] for p in svc["spec"]["ports"]} == {"proxy": "proxy", "admin": "admin"}
    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert selects(pdb["spec"]["selector"]["matchLabels"], act_labels)
    assert not selects(pdb["spec"]["selector"]["matchLabels"], op_labels)


def readme_activator_rules() -> list[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]]:
    text = (CHART / "README.md").read_text()
    table = text[text.index("<!-- activator-rbac-rules -->") : text.index("<!-- /activator-rbac-rules -->")]
    rules = []
    for line in table.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 4 and cells[0].startswith("`"):
            rules.append(tuple(tuple(re.findall(r"`([^`]*)`", c)) for c in cells[:3]))
    return rules  # type: ignore[return-value]


def rules_of(role: dict[str, Any]) -> list[tuple[tuple[str, ...], ...]]:
    return [(tuple(r["apiGroups"]), tuple(r["resources"]), tuple(r["verbs"])) for r in role["rules"]]


def test_activator_rbac_is_exactly_the_readme_table_and_bound_to_its_own_account(helm: str) -> None:  # noqa: F811
    docs = render(helm, *ON)
    role = next(d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "inferop-activator")
    assert rules_of(role) == readme_activator_rules()
    assert len(readme_activator_rules()) == 2
    verbs = {v for r in role["rules"] for v in r["verbs"]}
    assert verbs == {"list", "watch", "patch"}  # no get, create, update, delete; nothing else
    binding = next(
        d for d in docs if d["kind"] == "ClusterRoleBinding" and d["metadata"]["name"] == "inferop-activator"
    )
    assert binding["roleRef"]["name"] == "inferop-activator"
    account = deployments(docs)["activator"]["spec"]["template"]["spec"]["serviceAccountName"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": account, "namespace": "inferop-system"}]
    assert account != deployments(docs)["operator"]["spec"]["template"]["spec"]["serviceAccountName"]
    assert any(d["kind"] == "ServiceAccount" and d["metadata"]["name"] == account for d in docs)
    # the operator's ClusterRole is unchanged by the activator
    operator_role = next(d for d in docs if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "inferop")
    assert operator_role == next(d for d in render(helm) if d["kind"] == "ClusterRole"
                                 and d["metadata"]["name"] == "inferop")


def test_every_activator_rule_says_who_needs_it() -> None:
    lines = (CHART / "templates" / "activator-rbac.yaml").read_text().splitlines()
    rules = [i for i, line in enumerate(lines) if line.strip().startswith("- apiGroups:")]
    assert len(rules) == 2 and all(lines[i - 1].strip().startswith("#") for i in rules)


def test_namespaced_activator_gets_a_role_per_namespace_and_watches_only_those(helm: str) -> None:  # noqa: F811
    docs = render(helm, *NAMESPACED)
    assert not [d for d in activator_objects(docs) if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    roles = {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "Role"}
    bindings = {d["metadata"]["namespace"]: d for d in docs if d["kind"] == "RoleBinding"}
    assert set(roles) == set(bindings) == {"team-a", "team-b"}
    assert all(rules_of(r) == readme_activator_rules() for r in roles.values())
    assert all(b["subjects"][0]["name"] == "platform-activator" for b in bindings.values())
    deploy = deployments(docs)["activator"]
    args = deploy["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "--namespace=team-a" in args and "--namespace=team-b" in args
    assert deploy["spec"]["replicas"] == 3 and "--shutdown-seconds=55" in args
    assert not any(d["kind"] == "ValidatingAdmissionPolicy" for d in docs)
    assert one(docs, "PodDisruptionBudget")["spec"]["minAvailable"] == 2


def test_one_replica_is_refused(helm: str) -> None:  # noqa: F811
    error = render_error(helm, *ON, "--set", "activator.replicas=1")
    assert "replicas" in error and ("minimum" in error or "at least 2" in error)


# --- the admission policy's CEL, evaluated ------------------------------------------------------


@pytest.fixture(scope="module")
def celpy() -> Any:
    return pytest.importorskip("celpy")


def isvc(annotations: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "chat", "namespace": "team-a", "labels": {"team": "a"}}
    if annotations is not None:
        meta["annotations"] = annotations
    meta.update(extra.pop("meta", {}))
    return {"apiVersion": "inferop.dev/v1alpha1", "kind": "InferenceService", "metadata": meta,
            "spec": {"model": {"uri": "hf://a/b"}, **extra}}


KOPF = {"inferop.dev/last-handled-configuration": "sha256:abc"}
KEY = "inferop.dev/activation-requested"


def denied(celpy: Any, policy: dict[str, Any], old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    env = celpy.Environment()
    base = {"object": celpy.json_to_cel(new), "oldObject": celpy.json_to_cel(old)}
    variables = {}
    for var in policy["spec"]["variables"]:
        variables[var["name"]] = env.program(env.compile(var["expression"])).evaluate(base)
    activation = {**base, "variables": celpy.celtypes.MapType({celpy.celtypes.StringType(k): v
                                                                for k, v in variables.items()})}
    out = []
    for rule in policy["spec"]["validations"]:
        if not bool(env.program(env.compile(rule["expression"])).evaluate(activation)):
            out.append(rule.get("message") or "annotation")
    return out


def test_admission_policy_lets_the_activator_set_only_its_annotation(helm: str, celpy: Any) -> None:  # noqa: F811
    docs = render(helm, *ON)
    policy = one(docs, "ValidatingAdmissionPolicy")
    binding = one(docs, "ValidatingAdmissionPolicyBinding")
    assert binding["spec"] == {"policyName": policy["metadata"]["name"], "validationActions": ["Deny"]}
    account = deployments(docs)["activator"]["spec"]["template"]["spec"]["serviceAccountName"]
    (condition,) = policy["spec"]["matchConditions"]
    assert condition["expression"] == f'request.userInfo.username == "system:serviceaccount:inferop-system:{account}"'
    assert policy["spec"]["matchConstraints"]["resourceRules"][0]["resources"] == ["inferenceservices"]
    # allowed: adding the annotation (first activation, no annotations at all yet), moving it forward
    assert denied(celpy, policy, isvc(), isvc({KEY: "2026-12-02T01:00:00.000Z"})) == []
    assert denied(celpy, policy, isvc(KOPF), isvc({**KOPF, KEY: "2026-12-02T01:00:00.000Z"})) == []
    assert denied(celpy, policy, isvc({**KOPF, KEY: "a"}), isvc({**KOPF, KEY: "b"})) == []
    # denied: anything else
    assert denied(celpy, policy, isvc(), isvc(replicas=3)) == ["the inferop activator may not change an "
                                                              "InferenceService's spec"]
    assert denied(celpy, policy, isvc(KOPF), isvc({KEY: "x"})) == ["annotation"]  # dropped kopf's
    assert denied(celpy, policy, isvc(KOPF), isvc({**KOPF, "inferop.dev/last-handled-configuration": "y"})) == [
        "annotation"]
    assert denied(celpy, policy, isvc(), isvc({"other": "x"})) == ["annotation"]
    assert denied(celpy, policy, isvc(), isvc(meta={"labels": {"team": "b"}})) == [
        "the inferop activator may not change an InferenceService's labels"]
    assert denied(celpy, policy, isvc(), isvc(meta={"finalizers": ["x"]})) == [
        "the inferop activator may not change an InferenceService's finalizers or owner references"
    ]


def test_operator_is_told_where_the_activator_is_only_when_it_is_installed(helm: str) -> None:  # noqa: F811
    def env(docs: list[dict[str, Any]]) -> dict[str, str]:
        (container,) = deployments(docs)["operator"]["spec"]["template"]["spec"]["containers"]
        return {e["name"]: e.get("value", "") for e in container.get("env") or []}

    assert "INFEROP_ACTIVATOR_SERVICE" not in env(render(helm))
    docs = render(helm, *ON)
    (service,) = [d for d in activator_objects(docs) if d["kind"] == "Service"]
    want = f"{service['metadata']['namespace']}/{service['metadata']['name']}"
    assert env(docs)["INFEROP_ACTIVATOR_SERVICE"] == want
    assert [p["name"] for p in service["spec"]["ports"]][0] == "proxy"
