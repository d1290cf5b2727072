#!/usr/bin/env bash
# `make chart-check`: lint and render charts/inferop for the default values and the variants in
# charts/inferop/ci/*-values.yaml, and validate every rendered object. Offline after the first run.
#
#   1. crds-src/ and the generated parts of values.schema.json are in sync (hack/chart_check.py sync --check)
#   2. helm lint --strict, per variant (values.schema.json is enforced: unknown keys fail)
#   3. the schema really is enforced: a misspelt key must make `helm template` fail
#   4. helm template, per variant, as a fresh install (inferop.dev API not served yet) and as an upgrade
#      (--api-versions inferop.dev/v1alpha1/...), then hack/chart_check.py validate: built-in kinds against
#      the official Kubernetes schemas (kubernetes_validate, strict), our CRs and prometheus-operator's
#      ServiceMonitor/PrometheusRule against their CRDs' schemas, CRDs equal to crds/
#   5. promtool check rules + promtool test rules (charts/inferop/ci/alerts-test.yaml) on the PrometheusRule
#
# Tools, built or fetched once and cached under ${INFEROP_CACHE:-~/.cache/inferop}:
#   helm       hack/build-helm.sh (Go module helm.sh/helm/v3)
#   CRDs of ServiceMonitor/PrometheusRule   Go module github.com/prometheus-operator/prometheus-operator
#              (its example/prometheus-operator-crd/), checked against the pinned go.sum hash below
#   promtool   hack/prometheus.sh (Debian's prometheus package, unpacked)
#
# Environment: PYTHON (default .venv/bin/python), INFEROP_CACHE.
set -euo pipefail
LOG_TAG=chart-check
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

T0=$SECONDS
ROOT="$(cd "$HACK_DIR/.." && pwd)"
CHART="$ROOT/charts/inferop"
PYTHON="${PYTHON:-$ROOT/.venv/bin/python}"
[[ -x "$PYTHON" ]] || die "no $PYTHON: run \`make install\` first"

PROM_OPERATOR_MODULE=github.com/prometheus-operator/prometheus-operator
PROM_OPERATOR_VERSION=v0.85.0
PROM_OPERATOR_SUM="h1:M5xLCLEoaW2IJfnuCwFzzpL+jSVQu3KGT84Pye+fW8s="
MONITORING_CRDS="$INFEROP_CACHE/prometheus-operator-$PROM_OPERATOR_VERSION/crds"

monitoring_crds() {
	local files=(monitoring.coreos.com_servicemonitors.yaml monitoring.coreos.com_prometheusrules.yaml) f
	if [[ -f "$MONITORING_CRDS/${files[0]}" && -f "$MONITORING_CRDS/${files[1]}" ]]; then
		return 0
	fi
	ensure_go
	go_env_for_wrappers
	log "fetching the ServiceMonitor/PrometheusRule CRDs from $PROM_OPERATOR_MODULE@$PROM_OPERATOR_VERSION"
	local json dir sum
	json="$(cd "$(mktemp -d)" && GOFLAGS=-mod=mod go mod download -json "$PROM_OPERATOR_MODULE@$PROM_OPERATOR_VERSION")"
	dir="$("$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Dir"])' <<<"$json")"
	sum="$("$PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["Sum"])' <<<"$json")"
	[[ "$sum" == "$PROM_OPERATOR_SUM" ]] || die "$PROM_OPERATOR_MODULE@$PROM_OPERATOR_VERSION: go.sum hash $sum, want $PROM_OPERATOR_SUM"
	mkdir -p "$MONITORING_CRDS"
	for f in "${files[@]}"; do
		cp "$dir/example/prometheus-operator-crd/$f" "$MONITORING_CRDS/$f.tmp"
		mv "$MONITORING_CRDS/$f.tmp" "$MONITORING_CRDS/$f"
	done
}

HELM="$("$HACK_DIR/build-helm.sh" | tail -n 1)/helm"
monitoring_crds
PROMTOOL="$(dirname "$(bash "$HACK_DIR/prometheus.sh" | tail -n 1)")/promtool"
[[ -x "$PROMTOOL" ]] || die "no promtool next to the Prometheus of hack/prometheus.sh"

OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT
cd "$ROOT"

log "1. generated chart files in sync with crds/ and the Kubernetes schemas"
"$PYTHON" hack/chart_check.py sync --check

VARIANTS=(default)
for f in "$CHART"/ci/*-values.yaml; do
	VARIANTS+=("$(basename "$f" -values.yaml)")
done
values_args() { [[ "$1" == default ]] || echo "-f $CHART/ci/$1-values.yaml"; }
# What `helm upgrade` sees once the CRDs exist (a fresh install does not serve inferop.dev yet).
SERVED=(--api-versions inferop.dev/v1alpha1/CostPolicy --api-versions inferop.dev/v1alpha1/GPUClass)

log "2. helm lint --strict: ${VARIANTS[*]}"
for v in "${VARIANTS[@]}"; do
	# shellcheck disable=SC2046
	"$HELM" lint --strict --quiet "$CHART" $(values_args "$v") >"$OUT/lint-$v.log" 2>&1 ||
		{ cat "$OUT/lint-$v.log" >&2; die "helm lint --strict failed for variant $v"; }
done

log "3. values.schema.json is enforced"
if "$HELM" template t "$CHART" --set image.tagg=x >"$OUT/typo.log" 2>&1; then
	die "helm template accepted an unknown value (image.tagg): values.schema.json is not closed"
fi
grep -q "additional properties 'tagg' not allowed" "$OUT/typo.log" || { cat "$OUT/typo.log" >&2; die "unexpected error for image.tagg"; }

log "4. helm template + validation"
RENDERED=()
for v in "${VARIANTS[@]}"; do
	for mode in install upgrade; do
		extra=()
		[[ "$mode" == upgrade ]] && extra=("${SERVED[@]}")
		# shellcheck disable=SC2046
		"$HELM" template inferop "$CHART" --namespace inferop-system $(values_args "$v") "${extra[@]}" \
			>"$OUT/$v-$mode.yaml" || die "helm template failed for variant $v ($mode)"
		RENDERED+=("$OUT/$v-$mode.yaml")
	done
done
# A fresh install with the chart's CRDs leaves the custom resources to the first upgrade (NOTES.txt).
grep -q "^kind: CostPolicy" "$OUT/default-install.yaml" && die "CostPolicy rendered in a fresh install with crds.install=true"
grep -q "^kind: CostPolicy" "$OUT/default-upgrade.yaml" || die "default CostPolicy missing once the API is served"
"$PYTHON" hack/chart_check.py validate --crds crds --crds "$MONITORING_CRDS" "${RENDERED[@]}"

log "5. promtool: the PrometheusRule (monitoring variant)"
"$PYTHON" - "$OUT/monitoring-upgrade.yaml" "$OUT/rules.yaml" <<'EOF'
import sys, yaml
rules = [d["spec"] for d in yaml.safe_load_all(open(sys.argv[1])) if d and d.get("kind") == "PrometheusRule"]
assert len(rules) == 1, f"expected one PrometheusRule, got {len(rules)}"
open(sys.argv[2], "w").write(yaml.safe_dump(rules[0]))
EOF
"$PROMTOOL" check rules "$OUT/rules.yaml" >/dev/null
cp "$CHART/ci/alerts-test.yaml" "$OUT/alerts-test.yaml"
"$PROMTOOL" test rules "$OUT/alerts-test.yaml" >"$OUT/promtool.log" 2>&1 || { cat "$OUT/promtool.log" >&2; die "promtool test rules failed"; }

log "chart OK: ${#VARIANTS[@]} variants x {install, upgrade} linted, rendered and validated in $((SECONDS - T0))s ($("$HELM" version --template '{{.Version}}'))"
