#!/usr/bin/env bash
# make demo: local cluster + CRDs + examples + the operator in the background, then watch it converge.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NS="${DEMO_NAMESPACE:-demo}"
LOG="${TMPDIR:-/tmp}/inferop-demo-operator.log"
PIDFILE="${TMPDIR:-/tmp}/inferop-demo-operator.pid"

eval "$(bash hack/cluster-up.sh)"
BIN_DIR="$(bash hack/build-control-plane.sh | tail -n 1)"
export PATH="$BIN_DIR:$PATH"

kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
kubectl apply -f examples/gpuclasses.yaml -f examples/costpolicy-default.yaml
kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f - >/dev/null

if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
	echo "operator already running (pid $(cat "$PIDFILE")), log: $LOG"
else
	nohup .venv/bin/inferop run --all-namespaces >"$LOG" 2>&1 &
	echo $! >"$PIDFILE"
	echo "operator started (pid $!), log: $LOG"
fi

kubectl apply -n "$NS" -f examples/llm-vllm.yaml -f examples/cpu-embeddings.yaml
for i in $(seq 1 60); do
	ready=$(kubectl get infsvc -n "$NS" -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | grep -c True || true)
	clear 2>/dev/null || true
	echo "# kubectl get infsvc,deploy,hpa,pods -n $NS -o wide   ($i s)"
	kubectl get infsvc,deploy,hpa,pods -n "$NS" -o wide
	[[ "$ready" -ge 2 ]] && break
	sleep 1
done
echo
echo "Both services are Ready. Try: kubectl get infsvc -n $NS; kubectl describe infsvc chat -n $NS"
echo "export KUBECONFIG=$KUBECONFIG"
echo "Stop the operator: kill \$(cat $PIDFILE); remove the cluster: make cluster-down"
