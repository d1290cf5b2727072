#!/usr/bin/env bash
# make demo: a local cluster with fake GPU nodes, the CRDs and examples, a real Prometheus scraping a
# load emulator whose load follows a real production trace, and the operator with its cost controller.
# Then it shows the services converging and the replicas following the load.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
LOG_TAG=demo
# shellcheck source=hack/lib.sh
. hack/lib.sh
NS="${DEMO_NAMESPACE:-demo}"
RUN="${TMPDIR:-/tmp}/inferop-demo"
WATCH_SECONDS="${DEMO_WATCH_SECONDS:-120}"
mkdir -p "$RUN"

eval "$(bash hack/cluster-up.sh)"
BIN_DIR="$(bash hack/build-control-plane.sh | tail -n 1)"
export PATH="$BIN_DIR:$PATH"
PROMETHEUS="$(bash hack/prometheus.sh | tail -n 1)"

CRDS="$(kubectl apply --server-side --force-conflicts -f crds/ -o name)"
# shellcheck disable=SC2086 # one CRD name per word
wait_established 60 $CRDS
kubectl apply -f examples/gpuclasses.yaml -f examples/costpolicy-default.yaml
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

stop_old() { [[ -f "$RUN/$1.pid" ]] && kill "$(cat "$RUN/$1.pid")" 2>/dev/null || true; }

# Load: one day of the ServeGen m-large trace (10-minute windows), each window played for 2 s and
# scaled to a tenth of its rate, looping. Without the shared traces, a simple step.
TRACE="$ROOT/../shared/data/traces/servegen_m-large_rate_10min.csv"
if [[ -f "$TRACE" ]]; then
	python3 - "$TRACE" >"$RUN/load.csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))[:144]
print("# seconds,rps: ServeGen m-large (Apache-2.0), one day, 10 min -> 2 s, rate x0.1")
for i, row in enumerate(rows):
    print(f"{i * 2},{float(row['total_rate_rps']) / 10:.2f}")
PY
else
	printf '0,5\n60,40\n120,5\n180,5\n' >"$RUN/load.csv"
fi

stop_old emulator
nohup .venv/bin/python hack/loademu.py --namespace "$NS" --name chat --port 9400 --trace "$RUN/load.csv" \
	--capacity 20 >"$RUN/emulator.log" 2>&1 &
echo $! >"$RUN/emulator.pid"

stop_old prometheus
cat >"$RUN/prometheus.yml" <<YAML
global: {scrape_interval: 5s, evaluation_interval: 5s}
scrape_configs:
  - job_name: emulator
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:9400"]}]
  - job_name: operator  # inferop_replicas: what ran, for inferop backtest
    honor_labels: true
    static_configs: [{targets: ["127.0.0.1:8080"]}]
YAML
nohup "$PROMETHEUS" --config.file="$RUN/prometheus.yml" --storage.tsdb.path="$RUN/prometheus-data" \
	--web.listen-address=127.0.0.1:9090 >"$RUN/prometheus.log" 2>&1 &
echo $! >"$RUN/prometheus.pid"

stop_old operator
INFEROP_RATE_WINDOW=30s nohup .venv/bin/inferop run --all-namespaces --prometheus-url http://127.0.0.1:9090 \
	--metrics-port 8080 >"$RUN/operator.log" 2>&1 &
echo $! >"$RUN/operator.pid"
sleep 3
if ! kill -0 "$(cat "$RUN/operator.pid")" 2>/dev/null; then
	echo "the operator exited; its log ($RUN/operator.log):" >&2
	tail -20 "$RUN/operator.log" >&2
	exit 1
fi
echo "operator (pid $(cat "$RUN/operator.pid")), Prometheus http://127.0.0.1:9090, emulator http://127.0.0.1:9400/metrics; logs in $RUN"

kubectl apply -n "$NS" -f examples/llm-vllm.yaml -f examples/cpu-embeddings.yaml
end=$((SECONDS + WATCH_SECONDS))
while ((SECONDS < end)); do
	clear 2>/dev/null || true
	echo "# kubectl get infsvc,deploy,hpa,pods -n $NS -o wide   (load now: $(curl -s 127.0.0.1:9400/ || echo ?) req/s)"
	kubectl get infsvc,deploy,hpa,pods -n "$NS" -o wide
	sleep 5
done
echo
echo "export KUBECONFIG=$KUBECONFIG"
echo "Keep watching the loop:   kubectl get infsvc -n $NS -w"
echo "Why did it scale?         kubectl get infsvc chat -n $NS -o jsonpath='{.status.autoscaling.recentDecisions}'"
echo "Replay it through decide(): .venv/bin/inferop backtest --prometheus http://127.0.0.1:9090 --isvc $NS/chat --start now-${WATCH_SECONDS}s --end now"
echo "Stop: kill \$(cat $RUN/*.pid); remove the cluster: make cluster-down"
