"""Hostile and malformed inferop objects, generated from the examples (pure: no cluster, no I/O but
reading ``examples/``).

``cases(seed, run)`` returns at least 100 cases over all four kinds (InferenceService, GPUClass,
Tenant, CostPolicy). Each case mutates a valid example the way a hostile tenant or a careless user
would (wrong types, negative or huge numbers, floats for money, missing required and misspelt fields,
names colliding with objects of other owners, core resource names, overlapping Tenants, system
namespaces, mixed currencies, huge and astral-plane strings, control characters, unschedulable
requests, deleted references) and declares what a correct operator must do with it (issue 17):

- ``reject``: the API server refuses it at admission with a message naming one of ``fields``;
- ``report``: rejected like that, or accepted and reported on ``observe``: ``Ready=False`` with a
  CamelCase reason (one of ``reasons`` if given), a message (containing ``token`` if given) and a
  Warning Event;
- ``warn``: accepted; some condition's message on ``observe`` contains ``token`` and a Warning Event
  is posted (``Ready`` may stay True: e.g. a missing CostPolicy falls back to defaults, but says so);
- ``ready``: accepted and ``Ready=True`` on ``observe`` (the input is unusual but valid);
- ``either``: rejected naming a field, ``Ready=True``, or a report as above.

The seed picks the filler values (strings, emoji, sizes) and the order; ``run`` only goes into names,
so two runs never collide and one seed always yields the same cases.
"""

from __future__ import annotations

import copy
import functools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
API = "inferop.dev/v1alpha1"
EXPECTATIONS = ("reject", "report", "warn", "ready", "either")
KINDS = ("InferenceService", "GPUClass", "Tenant", "CostPolicy")
ASTRAL = ["🦙", "🚀", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢", "𓂀", "🤖🧠", "👩‍👩‍👧‍👦", "🀄", "𝟘𝟙𝟚"]
CONTROL = ["\x01", "\x07", "\x1b[31m", "\x7f", "\u202e", "\u200b", "\ufeff"]

Obj = dict[str, Any]


@dataclass
class Case:
    """One hostile input and what must happen to it."""

    cid: str
    kind: str
    mutation: str
    expect: str
    item: str = ""  # the issue-17 item(s) this probes ("" = general validation)
    fields: tuple[str, ...] = ()  # a rejection message must contain one of these
    reasons: tuple[str, ...] = ()  # allowed Ready reasons of a report (empty: any CamelCase)
    token: str = ""  # a report's (or warn's) message must contain this
    subject: Obj = field(default_factory=dict)  # the hostile object (its namespace in metadata)
    dependents: list[Obj] = field(default_factory=list)  # applied after the subject if it is accepted
    setup: list[Obj] = field(default_factory=list)  # valid objects of ours, applied before the fuzz
    foreign: list[Obj] = field(default_factory=list)  # objects of another owner, created first
    namespaces: list[str] = field(default_factory=list)  # created (empty) before everything
    delete_after: list[Obj] = field(default_factory=list)  # deleted right after the batch is applied
    observe: tuple[str, str, str | None] = ("", "", None)  # kind, name, namespace whose status tells


@functools.cache
def _examples(name: str) -> tuple[Obj, ...]:
    return tuple(yaml.safe_load_all((ROOT / "examples" / name).read_text()))


def example(name: str, index: int = 0) -> Obj:
    return copy.deepcopy(_examples(name)[index])


def _set(obj: Obj, dotted: str, value: Any) -> None:
    """Set ``a.b.c`` (``[n]`` indexes a list); ``value is DELETE`` removes the key."""
    parts = dotted.split(".")
    cur: Any = obj
    for part in parts[:-1]:
        cur = _step(cur, part, create=True)
    last = parts[-1]
    if "[" in last:
        key, idx = last[:-1].split("[")
        target = cur[key] if key else cur
        if value is DELETE:
            del target[int(idx)]
        else:
            target[int(idx)] = value
    elif value is DELETE:
        cur.pop(last, None)
    else:
        cur[last] = value


def _step(cur: Any, part: str, create: bool) -> Any:
    if "[" in part:
        key, idx = part[:-1].split("[")
        return (cur[key] if key else cur)[int(idx)]
    if create and not isinstance(cur.get(part), dict):
        cur[part] = {}
    return cur[part]


class _Delete:
    def __repr__(self) -> str:
        return "DELETE"


DELETE: Any = _Delete()


class Gen:
    """Builds the cases of one run; names are ``fz<run>-<n>``."""

    def __init__(self, seed: int, run: str) -> None:
        self.rng = random.Random(seed)
        self.run = run
        self.out: list[Case] = []
        self.n = 0

    # ---- names and base objects ------------------------------------------------------------
    def name(self, tag: str) -> str:
        self.n += 1
        return f"fz{self.run}-{tag}{self.n:03d}"

    def ns(self) -> str:
        return self.name("ns")

    def astral(self) -> str:
        return self.rng.choice(ASTRAL)

    def control(self) -> str:
        return self.rng.choice(CONTROL)

    def big(self, kib: int) -> str:
        alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
        chunk = "".join(self.rng.choice(alphabet) for _ in range(64))
        return (chunk * (kib * 1024 // 64 + 1))[: kib * 1024]

    @staticmethod
    def isvc(name: str, namespace: str, gpu: str | None = None, policy: str | None = None) -> Obj:
        """A small valid service: CPU only and fixed (fits the fake nodes 100 times over), or one
        GPU of class ``gpu``, or autoscaled with CostPolicy ``policy``."""
        obj = example("cpu-embeddings.yaml")
        obj["metadata"] = {"name": name, "namespace": namespace}
        obj["spec"]["resources"] = {"cpu": "100m", "memory": "128Mi"}
        obj["spec"]["replicas"] = 1
        if gpu is not None:
            obj["spec"]["resources"]["gpu"] = {"class": gpu, "count": 1}
        if policy is not None:
            del obj["spec"]["replicas"]
            obj["spec"]["autoscaling"] = {
                "minReplicas": 1,
                "maxReplicas": 2,
                "slo": {"latency": {"metric": "e2e", "percentile": 95, "targetMilliseconds": 5000}},
                "policy": policy,
            }
        return obj

    @staticmethod
    def gpuclass(name: str) -> Obj:
        obj = example("gpuclasses.yaml", 1)  # l4
        obj["metadata"] = {"name": name}
        return obj

    @staticmethod
    def tenant(name: str, namespaces: list[str]) -> Obj:
        obj = example("tenant.yaml")
        obj["metadata"] = {"name": name}
        obj["spec"]["namespaces"] = namespaces
        obj["spec"]["quota"]["gpusPerClass"] = {}
        return obj

    @staticmethod
    def costpolicy(name: str) -> Obj:
        obj = example("costpolicy-default.yaml")
        obj["metadata"] = {"name": name}
        return obj

    def add(self, case: Case) -> None:
        case.cid = f"c{len(self.out) + 1:03d}"
        assert case.expect in EXPECTATIONS, case.expect
        self.out.append(case)

    # ---- per kind ---------------------------------------------------------------------------
    def isvc_case(
        self,
        mutation: str,
        expect: str,
        mutate: Callable[[Obj], None] | None = None,
        setpath: tuple[str, Any] | None = None,
        fields: tuple[str, ...] = (),
        item: str = "",
        gpu: str | None = None,
        policy: str | None = None,
        **kw: Any,
    ) -> Case:
        ns = kw.pop("namespace", None) or self.ns()
        name = kw.pop("name", None) or self.name("svc")
        obj = self.isvc(name, ns, gpu=gpu, policy=policy)
        if setpath is not None:
            _set(obj, *setpath)
        if mutate is not None:
            mutate(obj)
        name = obj["metadata"]["name"]
        namespaces = kw.pop("namespaces", None)
        case = Case(
            cid="",
            kind="InferenceService",
            mutation=mutation,
            expect=expect,
            item=item,
            fields=fields or ((setpath[0],) if setpath else ()),
            subject=obj,
            namespaces=namespaces if namespaces is not None else [ns],
            observe=("InferenceService", name, ns),
            **kw,
        )
        self.add(case)
        return case

    def gpuclass_case(
        self,
        mutation: str,
        expect: str,
        setpath: tuple[str, Any] | None = None,
        mutate: Callable[[Obj], None] | None = None,
        fields: tuple[str, ...] = (),
        item: str = "",
        **kw: Any,
    ) -> Case:
        klass = self.name("gpu")
        obj = self.gpuclass(klass)
        if setpath is not None:
            _set(obj, *setpath)
        if mutate is not None:
            mutate(obj)
        ns = self.ns()
        svc = self.isvc(self.name("svc"), ns, gpu=klass)
        case = Case(
            cid="",
            kind="GPUClass",
            mutation=mutation,
            expect=expect,
            item=item,
            fields=fields or ((setpath[0],) if setpath else ()),
            subject=obj,
            dependents=[svc],
            namespaces=[ns],
            observe=("InferenceService", svc["metadata"]["name"], ns),
            **kw,
        )
        self.add(case)
        return case

    def costpolicy_case(
        self,
        mutation: str,
        expect: str,
        setpath: tuple[str, Any] | None = None,
        mutate: Callable[[Obj], None] | None = None,
        fields: tuple[str, ...] = (),
        item: str = "",
        **kw: Any,
    ) -> Case:
        pol = self.name("pol")
        obj = self.costpolicy(pol)
        if setpath is not None:
            _set(obj, *setpath)
        if mutate is not None:
            mutate(obj)
        ns = self.ns()
        svc = self.isvc(self.name("svc"), ns, policy=pol)
        case = Case(
            cid="",
            kind="CostPolicy",
            mutation=mutation,
            expect=expect,
            item=item,
            fields=fields or ((setpath[0],) if setpath else ()),
            subject=obj,
            dependents=[svc],
            namespaces=[ns],
            observe=("InferenceService", svc["metadata"]["name"], ns),
            **kw,
        )
        self.add(case)
        return case

    def tenant_case(
        self,
        mutation: str,
        expect: str,
        setpath: tuple[str, Any] | None = None,
        mutate: Callable[[Obj], None] | None = None,
        fields: tuple[str, ...] = (),
        item: str = "",
        namespaces: list[str] | None = None,
        create_namespaces: bool = True,
        **kw: Any,
    ) -> Case:
        name = self.name("ten")
        nss = namespaces if namespaces is not None else [self.ns()]
        obj = self.tenant(name, nss)
        if setpath is not None:
            _set(obj, *setpath)
        if mutate is not None:
            mutate(obj)
        extra_ns = kw.pop("extra_namespaces", [])
        case = Case(
            cid="",
            kind="Tenant",
            mutation=mutation,
            expect=expect,
            item=item,
            fields=fields or ((setpath[0],) if setpath else ()),
            subject=obj,
            namespaces=([n for n in nss if n.startswith(f"fz{self.run}-")] if create_namespaces else []) + extra_ns,
            observe=kw.pop("observe", ("Tenant", name, None)),
            **kw,
        )
        self.add(case)
        return case


def _foreign_service(name: str, ns: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": {"owner": "someone-else"}},
        "spec": {"selector": {"app": "theirs"}, "ports": [{"name": "web", "port": 9999, "targetPort": 9999}]},
    }


def _foreign_deployment(name: str, ns: str) -> Obj:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"owner": "someone-else"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "theirs"}},
            "template": {
                "metadata": {"labels": {"app": "theirs"}},
                "spec": {"containers": [{"name": "c", "image": "registry.example/theirs:1"}]},
            },
        },
    }


def _foreign_hpa(name: str, ns: str) -> Obj:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": ns, "labels": {"owner": "someone-else"}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "theirs"},
            "minReplicas": 1,
            "maxReplicas": 3,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}},
                }
            ],
        },
    }


def _foreign_quota(name: str, ns: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": name, "namespace": ns, "labels": {"owner": "someone-else"}},
        "spec": {"hard": {"pods": "50"}},
    }


def _foreign_limitrange(name: str, ns: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": name, "namespace": ns, "labels": {"owner": "someone-else"}},
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "1"}}]},
    }


def _isvc_cases(g: Gen) -> None:
    # -- valid controls and valid-but-unusual inputs
    g.isvc_case("valid control (CPU, fixed)", "ready")
    g.isvc_case("valid control (1 h100 GPU)", "ready", gpu="h100")
    g.isvc_case(
        "astral-plane characters in runtime.args",
        "ready",
        item="11",
        setpath=("spec.runtime.args", ["--served-model-name", f"chat{g.astral()}"]),
    )
    g.isvc_case(
        "astral-plane characters in runtime.env value",
        "ready",
        item="11",
        setpath=("spec.runtime.env", [{"name": "GREETING", "value": f"hi {g.astral()} {g.astral()}"}]),
    )
    g.isvc_case(
        "astral-plane characters in model.uri",
        "either",
        item="11",
        setpath=("spec.model.uri", f"hf://org/model-{g.astral()}"),
    )
    g.isvc_case(
        "control characters in runtime.env value",
        "either",
        setpath=("spec.runtime.env", [{"name": "CTRL", "value": f"a{g.control()}b{g.control()}"}]),
    )
    g.isvc_case("control character in model.uri", "either", setpath=("spec.model.uri", f"hf://org/m{g.control()}x"))
    g.isvc_case(
        "130 KiB of annotations (kopf essence)",
        "ready",
        item="3",
        mutate=lambda o: o["metadata"].update(annotations={"example.com/blob": g.big(130)}),
    )
    g.isvc_case(
        "200 KiB of annotations in 4 keys",
        "ready",
        item="3",
        mutate=lambda o: o["metadata"].update(annotations={f"example.com/blob{i}": g.big(50) for i in range(4)}),
    )
    # -- wrong types and out-of-range numbers (schema)
    for value, what in (("two", "string"), (-1, "negative"), (10**12, "huge"), (1.5, "float")):
        g.isvc_case(f"replicas {what} ({value!r})", "reject", setpath=("spec.replicas", value))
    g.isvc_case("resources.cpu not a quantity", "reject", setpath=("spec.resources.cpu", "lots"))
    g.isvc_case("resources.memory float", "reject", setpath=("spec.resources.memory", 1.5))
    g.isvc_case("resources.cpu negative (-500m)", "report", setpath=("spec.resources.cpu", "-500m"))
    g.isvc_case("resources.memory negative (-1Gi)", "report", setpath=("spec.resources.memory", "-1Gi"))
    g.isvc_case("resources.memory absurd (1e100)", "either", setpath=("spec.resources.memory", "1e100"))
    g.isvc_case("gpu.count 0", "reject", gpu="h100", setpath=("spec.resources.gpu.count", 0))
    g.isvc_case("gpu.count negative", "reject", gpu="h100", setpath=("spec.resources.gpu.count", -3))
    g.isvc_case("gpu.count 65 (over the schema bound)", "reject", gpu="h100", setpath=("spec.resources.gpu.count", 65))
    g.isvc_case("gpu.count string", "reject", gpu="h100", setpath=("spec.resources.gpu.count", "1"))
    g.isvc_case(
        "gpu.count 64: no node has that many",
        "report",
        item="12",
        gpu="h100",
        setpath=("spec.resources.gpu.count", 64),
        token="Insufficient",
    )
    g.isvc_case("gpu.class empty", "reject", gpu="h100", setpath=("spec.resources.gpu.class", ""))
    g.isvc_case(
        "gpu.class unknown (deleted GPUClass)",
        "report",
        gpu=f"fz{g.run}-gone",
        token=f"fz{g.run}-gone",
        fields=("spec.resources.gpu.class",),
    )
    g.isvc_case("gpu.class wrong case (H100)", "report", gpu="H100", token="H100", fields=("spec.resources.gpu.class",))
    g.isvc_case(
        "gpu without class",
        "reject",
        gpu="h100",
        setpath=("spec.resources.gpu.class", DELETE),
        fields=("spec.resources.gpu.class", "class"),
    )
    # -- model
    g.isvc_case("model.uri ftp://", "reject", setpath=("spec.model.uri", "ftp://example.com/m"))
    g.isvc_case("model.uri empty", "reject", setpath=("spec.model.uri", ""))
    g.isvc_case("model.uri 3000 characters", "reject", setpath=("spec.model.uri", "hf://" + g.big(3)[:2995]))
    g.isvc_case("model missing", "reject", setpath=("spec.model", DELETE), fields=("spec.model", "model"))
    g.isvc_case("model is a string", "reject", setpath=("spec.model", "hf://org/m"))
    g.isvc_case("model.quantization unknown", "reject", setpath=("spec.model.quantization", "fp3"))
    # -- runtime
    g.isvc_case("runtime.name unknown", "reject", setpath=("spec.runtime.name", "pytorch"))
    g.isvc_case(
        "runtime custom without image",
        "reject",
        mutate=lambda o: o["spec"]["runtime"].update(name="custom") or o["spec"]["runtime"].pop("image"),
        fields=("spec.runtime.image", "spec.runtime"),
    )
    g.isvc_case("runtime.image empty", "reject", setpath=("spec.runtime.image", ""))
    g.isvc_case("runtime.image with spaces", "either", setpath=("spec.runtime.image", " evil image :latest "))
    for value in (0, 70000, "8080"):
        g.isvc_case(f"runtime.port {value!r}", "reject", setpath=("spec.runtime.port", value))
    g.isvc_case("runtime.args a string", "reject", setpath=("spec.runtime.args", "--max-model-len 8192"))
    g.isvc_case("runtime.args integers", "reject", setpath=("spec.runtime.args", [1, 2]))
    g.isvc_case(
        "runtime.args one 300 KiB argument", "reject", item="3", setpath=("spec.runtime.args", ["--x", g.big(300)])
    )
    g.isvc_case("runtime.args 5000 items", "reject", item="3", setpath=("spec.runtime.args", ["-v"] * 5000))
    g.isvc_case(
        "runtime.env value 300 KiB",
        "reject",
        item="3",
        setpath=("spec.runtime.env", [{"name": "BLOB", "value": g.big(300)}]),
    )
    g.isvc_case(
        "runtime.env 3000 entries",
        "reject",
        item="3",
        setpath=("spec.runtime.env", [{"name": f"V{i}", "value": "x"} for i in range(3000)]),
    )
    g.isvc_case("runtime.env name invalid", "reject", setpath=("spec.runtime.env", [{"name": "1 BAD", "value": "x"}]))
    g.isvc_case("runtime.env entry without name", "reject", setpath=("spec.runtime.env", [{"value": "x"}]))
    # -- names
    g.isvc_case("name of 70 characters (Service name limit 63)", "report", name="a" * 70, fields=("metadata.name",))
    g.isvc_case("name starting with a digit", "report", name=f"1fz{g.run}svc", fields=("metadata.name",))
    g.isvc_case("name with dots", "report", name=f"fz{g.run}.dotted.name", fields=("metadata.name",))
    g.isvc_case(
        "label value 300 characters",
        "reject",
        mutate=lambda o: o["metadata"].update(labels={"team": "x" * 300}),
        fields=("metadata.labels",),
    )
    # -- unknown and misspelt fields (strict field validation)
    for dotted in (
        "spec.autoscalling",
        "spec.resources.gpus",
        "spec.runtime.imagePullPolicy",
        "spec.scheduling.nodeselector",
    ):
        g.isvc_case(f"unknown field {dotted}", "reject", setpath=(dotted, {"x": 1} if "auto" in dotted else "x"))
    # -- autoscaling
    g.isvc_case(
        "replicas and autoscaling both",
        "reject",
        policy="default",
        setpath=("spec.replicas", 2),
        fields=("spec.replicas",),
    )
    g.isvc_case(
        "autoscaling min > max",
        "reject",
        policy="default",
        mutate=lambda o: o["spec"]["autoscaling"].update(minReplicas=5, maxReplicas=2),
        fields=("spec.autoscaling.minReplicas", "minReplicas"),
    )
    g.isvc_case(
        "autoscaling.maxReplicas missing",
        "reject",
        policy="default",
        setpath=("spec.autoscaling.maxReplicas", DELETE),
        fields=("maxReplicas",),
    )
    g.isvc_case(
        "autoscaling.maxReplicas 100000", "reject", policy="default", setpath=("spec.autoscaling.maxReplicas", 100000)
    )
    for value in (0, -5, "5s"):
        g.isvc_case(
            f"slo targetMilliseconds {value!r}",
            "reject",
            policy="default",
            setpath=("spec.autoscaling.slo.latency.targetMilliseconds", value),
        )
    g.isvc_case(
        "slo percentile 97", "reject", policy="default", setpath=("spec.autoscaling.slo.latency.percentile", 97)
    )
    g.isvc_case("slo metric p95", "reject", policy="default", setpath=("spec.autoscaling.slo.latency.metric", "p95"))
    g.isvc_case("autoscaling.mode Auto", "reject", policy="default", setpath=("spec.autoscaling.mode", "Auto"))
    g.isvc_case("autoscaling.policy empty", "reject", policy="default", setpath=("spec.autoscaling.policy", ""))
    g.isvc_case(
        "autoscaling.policy names no CostPolicy",
        "warn",
        item="12",
        policy=f"fz{g.run}-nopolicy",
        token=f"fz{g.run}-nopolicy",
    )
    for value in (150, 0, 50.5):
        g.isvc_case(
            f"targets.gpuUtilizationPercent {value!r}",
            "reject",
            policy="default",
            setpath=("spec.autoscaling.targets.gpuUtilizationPercent", value),
        )
    g.isvc_case(
        "queries.latencyMilliseconds 5000 characters",
        "reject",
        policy="default",
        setpath=("spec.autoscaling.queries.latencyMilliseconds", "sum(" + g.big(5) + ")"),
    )
    # -- scheduling
    g.isvc_case(
        "affinity with an unknown key",
        "report",
        item="5",
        reasons=("InvalidSpec", "ApplyFailed"),
        setpath=("spec.scheduling.affinity", {"nodeAfinity": {"required": True}}),
        fields=("spec.scheduling.affinity", "nodeAfinity"),
    )
    g.isvc_case(
        "affinity of the wrong type",
        "report",
        item="5",
        reasons=("InvalidSpec", "ApplyFailed"),
        setpath=("spec.scheduling.affinity", {"nodeAffinity": "yes please"}),
        fields=("spec.scheduling.affinity", "nodeAffinity"),
    )
    g.isvc_case(
        "affinity no node matches",
        "report",
        item="12",
        token="affinity",
        setpath=(
            "spec.scheduling.affinity",
            {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchExpressions": [{"key": "example.com/nowhere", "operator": "In", "values": ["x"]}]}
                        ]
                    }
                }
            },
        ),
    )
    g.isvc_case(
        "priorityClassName that does not exist",
        "report",
        item="12",
        setpath=("spec.scheduling.priorityClassName", f"fz{g.run}-gold"),
        token=f"fz{g.run}-gold",
    )
    g.isvc_case(
        "toleration operator Maybe",
        "reject",
        setpath=("spec.scheduling.tolerations", [{"key": "k", "operator": "Maybe"}]),
    )
    g.isvc_case("nodeSelector value an integer", "reject", setpath=("spec.scheduling.nodeSelector", {"zone": 3}))
    g.isvc_case(
        "nodeSelector invalid label key",
        "report",
        item="5",
        reasons=("InvalidSpec", "ApplyFailed"),
        setpath=("spec.scheduling.nodeSelector", {"bad key!": "x"}),
        fields=("spec.scheduling.nodeSelector",),
    )
    g.isvc_case(
        "nodeSelector value with astral characters",
        "report",
        item="5",
        setpath=("spec.scheduling.nodeSelector", {"zone": g.astral()}),
        fields=("spec.scheduling.nodeSelector",),
    )
    # -- rollout
    g.isvc_case(
        "rollout.maxSurge not a percentage",
        "report",
        item="5",
        setpath=("spec.rollout.maxSurge", "lots"),
        fields=("spec.rollout.maxSurge",),
    )
    g.isvc_case(
        "rollout maxSurge 0 and maxUnavailable 0",
        "report",
        item="5",
        setpath=("spec.rollout", {"maxSurge": 0, "maxUnavailable": 0}),
        fields=("spec.rollout",),
    )
    g.isvc_case("rollout.maxSurge float", "reject", setpath=("spec.rollout.maxSurge", 1.5))
    g.isvc_case(
        "rollout.maxUnavailable negative",
        "report",
        item="5",
        setpath=("spec.rollout.maxUnavailable", -1),
        fields=("spec.rollout.maxUnavailable",),
    )
    # -- collisions with objects of other owners (item 1)
    for make, kind, policy in (
        (_foreign_service, "Service", None),
        (_foreign_deployment, "Deployment", None),
        (_foreign_hpa, "HorizontalPodAutoscaler", "default"),
    ):
        ns, name = g.ns(), g.name("web")
        g.isvc_case(
            f"user {kind} with the service's name exists",
            "report",
            item="1",
            policy=policy,
            namespace=ns,
            name=name,
            foreign=[make(name, ns)],
            token=name,
            fields=("metadata.name",),
        )
    ns, name = g.ns(), g.name("web")
    owned = _foreign_service(name, ns)
    # The owner must exist, or the garbage collector deletes the Service at once: the test creates
    # foreign objects in order and replaces a uid "@<kind>/<name>" with that object's uid.
    theirs = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "theirs", "namespace": ns}}
    owned["metadata"]["ownerReferences"] = [
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "theirs", "uid": "@ConfigMap/theirs", "controller": True}
    ]
    g.isvc_case(
        "Service of another controller with the service's name",
        "report",
        item="1",
        namespace=ns,
        name=name,
        foreign=[theirs, owned],
        token=name,
        fields=("metadata.name",),
    )
    g.isvc_case(
        "InferenceService named kubernetes in default",
        "report",
        item="1",
        namespace="default",
        name="kubernetes",
        namespaces=[],
        token="kubernetes",
        fields=("metadata.name",),
    )
    # -- tenant-side behaviour seen on a service
    ns = g.ns()
    g.isvc_case(
        "system-node-critical priority in a tenant namespace",
        "report",
        item="12",
        namespace=ns,
        setpath=("spec.scheduling.priorityClassName", "system-node-critical"),
        setup=[g.tenant(g.name("ten"), [ns])],
        fields=("spec.scheduling.priorityClassName",),
    )
    ns = g.ns()
    zero = g.tenant(g.name("ten"), [ns])
    zero["spec"]["quota"]["gpus"] = 0
    g.isvc_case(
        "GPU service clamped to 0 by a 0-GPU tenant",
        "report",
        item="12",
        gpu="h100",
        namespace=ns,
        setup=[zero],
        fields=("spec.resources.gpu",),
    )


def _gpuclass_cases(g: Gen) -> None:
    g.gpuclass_case("valid control", "ready")
    for value in (
        "cpu",
        "memory",
        "kubernetes.io/gpu",
        "requests.nvidia.com/gpu",
        "pods",
        "ephemeral-storage",
        "hugepages-2Mi",
        "limits.cpu",
        "storage",
    ):
        g.gpuclass_case(f"resourceName {value}", "reject", item="2", setpath=("spec.resourceName", value))
    g.gpuclass_case("resourceName empty", "reject", setpath=("spec.resourceName", ""))
    g.gpuclass_case("resourceName a/b/c", "reject", setpath=("spec.resourceName", "a/b/c"))
    g.gpuclass_case(
        "resourceName with astral characters",
        "reject",
        item="11",
        setpath=("spec.resourceName", f"example.com/{g.astral()}"),
    )
    g.gpuclass_case(
        "resourceName no node offers (example.com/fpga)",
        "report",
        item="12",
        setpath=("spec.resourceName", f"example.com/fpga{g.run}"),
        token="Insufficient",
    )
    for value, what in (
        (4.1, "float"),
        (4, "integer"),
        ("-1.00", "negative"),
        ("1e3", "exponent"),
        ("4.1234567", "7 decimals"),
        ("4,10", "comma"),
    ):
        g.gpuclass_case(f"price.perGPUHour {what}", "reject", setpath=("spec.price.perGPUHour", value))
    g.gpuclass_case(
        "price.perGPUHour absurd (20 digits)", "either", setpath=("spec.price.perGPUHour", "99999999999999999999")
    )
    g.gpuclass_case("price.currency lowercase", "reject", setpath=("spec.price.currency", "usd"))
    g.gpuclass_case("price.currency symbol", "reject", setpath=("spec.price.currency", "€"))
    g.gpuclass_case("price without currency (defaults to USD)", "ready", setpath=("spec.price.currency", DELETE))
    for value in (0, -1, "80", 1.5):
        g.gpuclass_case(f"memoryGiB {value!r}", "reject", setpath=("spec.memoryGiB", value))
    g.gpuclass_case(
        "nodeSelector no node matches",
        "report",
        item="12",
        setpath=("spec.nodeSelector", {"nvidia.com/gpu.product": "NVIDIA-B200"}),
        token="affinity",
    )
    g.gpuclass_case(
        "nodeSelector invalid label key",
        "report",
        item="5",
        setpath=("spec.nodeSelector", {"no spaces allowed": "x"}),
        fields=("spec.nodeSelector",),
    )
    g.gpuclass_case(
        "nodeSelector value 100 KiB",
        "report",
        item="5",
        setpath=("spec.nodeSelector", {"example.com/x": g.big(100)}),
        fields=("spec.nodeSelector",),
    )
    g.gpuclass_case(
        "toleration effect unknown",
        "reject",
        setpath=("spec.tolerations", [{"key": "k", "operator": "Exists", "effect": "Sometimes"}]),
    )
    g.gpuclass_case("spec missing", "reject", setpath=("spec", DELETE), fields=("spec",))
    g.gpuclass_case("spec a string", "reject", setpath=("spec", "nvidia.com/gpu"))
    g.gpuclass_case("unknown field spec.pricee", "reject", setpath=("spec.pricee", {"perGPUHour": "1"}))
    g.gpuclass_case(
        "name with astral characters",
        "reject",
        item="11",
        mutate=lambda o: o["metadata"].update(name=f"fz{g.run}-{g.astral()}"),
        fields=("metadata.name",),
    )
    gone = g.gpuclass(g.name("gpu"))
    ns = g.ns()
    svc = g.isvc(g.name("svc"), ns, gpu=gone["metadata"]["name"])
    g.add(
        Case(
            cid="",
            kind="GPUClass",
            mutation="GPUClass deleted under a running service",
            expect="report",
            item="12",
            subject=gone,
            dependents=[svc],
            namespaces=[ns],
            delete_after=[gone],
            observe=("InferenceService", svc["metadata"]["name"], ns),
            token=gone["metadata"]["name"],
            fields=("spec.resources.gpu.class",),
        )
    )
    # mixed currencies (item 9): a JPY class under a USD budget
    ns = g.ns()
    ten = g.tenant(g.name("ten"), [ns])
    g.gpuclass_case(
        "price in JPY, tenant budget in USD",
        "report",
        item="9",
        reasons=("CurrencyMismatch",),
        setpath=("spec.price", {"perGPUHour": "600", "currency": "JPY"}),
        setup=[ten],
    )
    g.out[-1].dependents[0]["metadata"]["namespace"] = ns
    g.out[-1].namespaces = [ns]
    g.out[-1].observe = ("InferenceService", g.out[-1].dependents[0]["metadata"]["name"], ns)


def _costpolicy_cases(g: Gen) -> None:
    g.costpolicy_case("valid control", "ready")
    for value in (0, 1, 99999, "30", 30.5):
        g.costpolicy_case(f"intervalSeconds {value!r}", "reject", setpath=("spec.intervalSeconds", value))
    g.costpolicy_case("scaleUp.maxStepReplicas 0", "reject", setpath=("spec.scaleUp.maxStepReplicas", 0))
    g.costpolicy_case(
        "scaleUp.stabilizationSeconds missing",
        "reject",
        setpath=("spec.scaleUp.stabilizationSeconds", DELETE),
        fields=("stabilizationSeconds",),
    )
    g.costpolicy_case(
        "scaleDown.stabilizationSeconds negative", "reject", setpath=("spec.scaleDown.stabilizationSeconds", -1)
    )
    g.costpolicy_case("scaleDown.maxStepPercent huge", "reject", setpath=("spec.scaleDown.maxStepPercent", 10**9))
    g.costpolicy_case("sloHeadroomPercent 95", "reject", setpath=("spec.sloHeadroomPercent", 95))
    g.costpolicy_case("cooldownSeconds float", "reject", setpath=("spec.cooldownSeconds", 0.5))
    g.costpolicy_case("onMissingMetrics ScaleDown", "reject", setpath=("spec.onMissingMetrics", "ScaleDown"))
    g.costpolicy_case(
        "schedule start 25:00",
        "reject",
        setpath=("spec.schedule", [{"start": "25:00", "end": "26:00"}]),
        fields=("spec.schedule[0].start",),
    )
    g.costpolicy_case(
        "schedule min > max",
        "reject",
        setpath=("spec.schedule", [{"start": "08:00", "end": "18:00", "minReplicas": 5, "maxReplicas": 1}]),
        fields=("spec.schedule[0]",),
    )
    g.costpolicy_case(
        "schedule day Funday",
        "reject",
        setpath=("spec.schedule", [{"days": ["Funday"], "start": "08:00", "end": "18:00"}]),
        fields=("spec.schedule[0].days",),
    )
    g.costpolicy_case("prometheus.url ftp://", "reject", setpath=("spec.prometheus.url", "ftp://prom:9090"))
    g.costpolicy_case(
        "prometheus.url with astral characters",
        "either",
        item="11",
        setpath=("spec.prometheus.url", f"http://{g.astral()}.example:9090"),
    )
    g.costpolicy_case(
        "prometheus.url 300 KiB", "reject", item="3", setpath=("spec.prometheus.url", "http://" + g.big(300))
    )
    g.costpolicy_case("unknown field spec.scaleup", "reject", setpath=("spec.scaleup", {"maxStepReplicas": 9}))
    g.costpolicy_case(
        "prometheus label with control characters",
        "either",
        setpath=("spec.prometheus.labels.namespace", f"ns{g.control()}"),
    )
    gone = g.costpolicy(g.name("pol"))
    ns = g.ns()
    svc = g.isvc(g.name("svc"), ns, policy=gone["metadata"]["name"])
    g.add(
        Case(
            cid="",
            kind="CostPolicy",
            mutation="CostPolicy deleted under a running service",
            expect="warn",
            item="12",
            subject=gone,
            dependents=[svc],
            namespaces=[ns],
            delete_after=[gone],
            observe=("InferenceService", svc["metadata"]["name"], ns),
            token=gone["metadata"]["name"],
        )
    )


def _tenant_cases(g: Gen) -> None:
    g.tenant_case("valid control", "ready")
    g.tenant_case("namespaces missing", "reject", setpath=("spec.namespaces", DELETE), fields=("spec.namespaces",))
    g.tenant_case("namespaces a string", "reject", setpath=("spec.namespaces", "team-a"))
    g.tenant_case("namespace not a DNS label", "reject", namespaces=["Bad_NS"], fields=("spec.namespaces[0]",))
    dup = g.ns()
    g.tenant_case("namespace listed twice", "reject", namespaces=[dup, dup], fields=("spec.namespaces",))
    g.tenant_case(
        "300 namespaces",
        "reject",
        namespaces=[f"fz{g.run}-many{i}" for i in range(300)],
        create_namespaces=False,
        fields=("spec.namespaces",),
    )
    for system in ("kube-system", "kube-public", "inferop-system"):
        g.tenant_case(
            f"namespace {system}", "report", item="10", namespaces=[system], fields=("spec.namespaces",), token=system
        )
    # overlapping Tenants (item 4): the first one is set up before the fuzz
    for partial in (False, True):
        shared = g.ns()
        first = g.tenant(g.name("ten"), [shared])
        nss = [shared, g.ns()] if partial else [shared]
        g.tenant_case(
            "second Tenant claims a namespace" + (" (one of two)" if partial else ""),
            "report",
            item="4",
            namespaces=nss,
            reasons=("NamespaceClaimed",),
            token=first["metadata"]["name"],
            setup=[first],
            fields=("spec.namespaces",),
        )
    for dotted, value, what in (
        ("spec.quota.gpus", -1, "negative"),
        ("spec.quota.gpus", "4", "string"),
        ("spec.quota.gpus", 1.5, "float"),
        ("spec.quota.gpus", 10**20, "beyond int64"),
        ("spec.quota.cpu", "-5", "negative"),
        ("spec.quota.memory", "-1Gi", "negative"),
        ("spec.quota.cpu", "abc", "not a quantity"),
        ("spec.quota.inferenceServices", -1, "negative"),
        ("spec.quota.gpusPerClass", {"h100": -1}, "negative per class"),
        ("spec.budget.hourly", 60.0, "float"),
        ("spec.budget.hourly", "-5.00", "negative"),
        ("spec.budget.hourly", "60,00", "comma"),
        ("spec.budget.currency", "usd", "lowercase"),
        ("spec.limitDefaults.defaultMemory", "-1Gi", "negative"),
        ("spec.podSecurity", "none", "unknown level"),
        ("spec.quotas", {"gpus": 1}, "misspelt field"),
    ):
        g.tenant_case(
            f"{dotted.removeprefix('spec.')} {what}",
            "reject",
            item="7" if "-" in str(value) else "",
            setpath=(dotted, value),
        )
    g.tenant_case(
        "limitDefaults default below default request",
        "reject",
        item="7",
        setpath=("spec.limitDefaults", {"defaultCPU": "100m", "defaultRequestCPU": "500m"}),
        fields=("spec.limitDefaults",),
    )
    g.tenant_case(
        # kube-apiserver 1.36 stores it ("10e99"): an absurd but valid limit, so either outcome is right.
        "quota.cpu absurd (1e100)",
        "either",
        item="7",
        setpath=("spec.quota.cpu", "1e100"),
        fields=("spec.quota.cpu",),
    )
    g.tenant_case(
        "gpusPerClass names no GPUClass", "either", setpath=("spec.quota.gpusPerClass", {f"fz{g.run}-none": 2})
    )
    g.tenant_case("namespace that does not exist", "either", create_namespaces=False, fields=("spec.namespaces",))
    g.tenant_case(
        "130 KiB of annotations (kopf essence)",
        "ready",
        item="3",
        mutate=lambda o: o["metadata"].update(annotations={"example.com/blob": g.big(130)}),
    )
    g.tenant_case(
        "name with astral characters",
        "reject",
        item="11",
        mutate=lambda o: o["metadata"].update(name=f"t{g.astral()}"),
        fields=("metadata.name",),
    )
    for make, kind in ((_foreign_quota, "ResourceQuota"), (_foreign_limitrange, "LimitRange")):
        ns = g.ns()
        g.tenant_case(
            f"user {kind} inferop-tenant exists in the namespace",
            "report",
            item="1",
            namespaces=[ns],
            foreign=[make("inferop-tenant", ns)],
            token="inferop-tenant",
            fields=("spec.namespaces",),
        )
    # mixed currencies (item 9): a EUR budget over a USD GPUClass (h100)
    ns = g.ns()
    svc = g.isvc(g.name("svc"), ns, gpu="h100")
    g.tenant_case(
        "budget in EUR, GPUClass priced in USD",
        "report",
        item="9",
        reasons=("CurrencyMismatch",),
        namespaces=[ns],
        setpath=("spec.budget.currency", "EUR"),
        dependents=[svc],
        observe=("InferenceService", svc["metadata"]["name"], ns),
    )


def cases(seed: int, run: str) -> list[Case]:
    """All cases for one run, in a seed-dependent order."""
    g = Gen(seed, run)
    _isvc_cases(g)
    _gpuclass_cases(g)
    _costpolicy_cases(g)
    _tenant_cases(g)
    out = list(g.out)
    g.rng.shuffle(out)
    return out
