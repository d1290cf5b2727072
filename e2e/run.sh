#!/usr/bin/env bash
# End-to-end on kind, for machines with Docker (see e2e/README.md; it cannot run where there is no Docker):
#   1. a kind cluster (reused if it exists)
#   2. the operator image built from the repository's Dockerfile and loaded into kind
#   3. the chart installed from charts/inferop (CRDs included) into a Pod Security "restricted"
#      namespace, plus the one `helm upgrade --reuse-values` that creates the default CostPolicy
#   4. a real CPU model (e2e/embed.yaml: examples/cpu-embeddings.yaml sized for CI) becomes Ready
#   5. `kubectl scale infsvc embed --replicas=2` -> 2 ready replicas, Ready again
#   6. the operator's log shows no permission error (403)
#
# Environment:
#   KIND_CLUSTER_NAME   default inferop-e2e
#   KIND_NODE_IMAGE     kind node image (default: the kind release's own)
#   IMAGE               default ghcr.io/inferop/inferop:e2e
#   E2E_KEEP=1          keep the cluster afterwards (default: delete it on success, keep it on failure)
#   E2E_TIMEOUT         seconds to wait for Ready (default 900: the runtime image is ~2 GB, the model
#                       comes from Hugging Face)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
NAME="${KIND_CLUSTER_NAME:-inferop-e2e}"
IMAGE="${IMAGE:-ghcr.io/inferop/inferop:e2e}"
TIMEOUT="${E2E_TIMEOUT:-900}"
NS_OPERATOR=inferop-system
NS_APP=e2e

log() { printf '[e2e] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

for tool in docker kind kubectl; do
	command -v "$tool" >/dev/null || die "$tool not found: this suite needs Docker, kind and kubectl (e2e/README.md)"
done
docker info >/dev/null 2>&1 || die "Docker is not running (this suite cannot run without it)"
if ! command -v helm >/dev/null; then
	log "helm not on PATH: building it from its Go module (hack/build-helm.sh)"
	PATH="$(bash hack/build-helm.sh | tail -n 1):$PATH"
fi

on_exit() {
	local rc=$?
	if [[ $rc -ne 0 ]]; then
		log "failed (exit $rc); cluster '$NAME' kept for inspection: kind export logs --name $NAME"
		kubectl -n "$NS_OPERATOR" logs deployment/inferop --tail=200 >&2 || true
		kubectl -n "$NS_APP" get infsvc,deploy,pods -o wide >&2 || true
		kubectl -n "$NS_APP" get events --sort-by=.lastTimestamp >&2 || true
	elif [[ "${E2E_KEEP:-}" != 1 ]]; then
		kind delete cluster --name "$NAME"
	fi
}
trap on_exit EXIT

log "1. kind cluster $NAME"
if ! kind get clusters 2>/dev/null | grep -qx "$NAME"; then
	kind create cluster --name "$NAME" ${KIND_NODE_IMAGE:+--image "$KIND_NODE_IMAGE"} --wait 180s
fi
kubectl config use-context "kind-$NAME" >/dev/null

log "2. image $IMAGE"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$NAME"

log "3. helm install (then the one upgrade that creates the chart's custom resources)"
kubectl create namespace "$NS_OPERATOR" --dry-run=client -o yaml | kubectl apply -f -
kubectl label namespace "$NS_OPERATOR" pod-security.kubernetes.io/enforce=restricted --overwrite
HELM_ARGS=(--namespace "$NS_OPERATOR" --wait --timeout 5m)
helm upgrade --install inferop charts/inferop "${HELM_ARGS[@]}" \
	--set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE##*:}" --set image.pullPolicy=Never
helm upgrade inferop charts/inferop "${HELM_ARGS[@]}" --reuse-values
kubectl get costpolicy default >/dev/null
kubectl -n "$NS_OPERATOR" rollout status deployment/inferop --timeout=120s

log "4. a CPU model becomes Ready"
kubectl create namespace "$NS_APP" --dry-run=client -o yaml | kubectl apply -f -
kubectl -n "$NS_APP" apply -f e2e/embed.yaml
kubectl -n "$NS_APP" wait --for=condition=Ready infsvc/embed --timeout="${TIMEOUT}s"
kubectl -n "$NS_APP" get infsvc embed

log "5. scale to 2 through the /scale subresource"
kubectl -n "$NS_APP" scale infsvc embed --replicas=2
for _ in $(seq 1 "$TIMEOUT"); do
	ready="$(kubectl -n "$NS_APP" get infsvc embed -o jsonpath='{.status.readyReplicas}')"
	status="$(kubectl -n "$NS_APP" get infsvc embed -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')"
	[[ "$ready" == 2 && "$status" == True ]] && break
	sleep 1
done
[[ "$ready" == 2 && "$status" == True ]] || die "embed did not reach 2 ready replicas (readyReplicas=$ready Ready=$status)"
[[ "$(kubectl -n "$NS_APP" get deployment embed -o jsonpath='{.spec.replicas}')" == 2 ]] || die "Deployment not scaled"

log "7. scale to zero and back (E2E_ZERO=0 skips it)"
if [[ "${E2E_ZERO:-1}" == 1 ]]; then
	kubectl -n "$NS_APP" apply -f e2e/zero.yaml
	kubectl -n "$NS_APP" wait --for=condition=Ready pod/prometheus --timeout="${TIMEOUT}s"
	helm upgrade inferop charts/inferop "${HELM_ARGS[@]}" --reuse-values --set activator.enabled=true \
		--set prometheus.url="http://prometheus.$NS_APP.svc:9090"
	kubectl -n "$NS_OPERATOR" rollout status deployment/inferop --timeout=120s
	kubectl -n "$NS_APP" wait --for=jsonpath='{.status.autoscaling.scaledToZero}'=true infsvc/embed-zero \
		--timeout="${TIMEOUT}s"
	[[ "$(kubectl -n "$NS_APP" get deployment embed-zero -o jsonpath='{.spec.replicas}')" == 0 ]] \
		|| die "embed-zero: Deployment not at 0 replicas"
	kubectl -n "$NS_APP" get endpointslice embed-zero-inferop -o jsonpath='{.metadata.annotations}' \
		| grep -q '"Activator"' || die "embed-zero: its EndpointSlice does not point at the activator"
	# A request through the Service's DNS name: held by the activator, answered by the woken pod.
	kubectl -n "$NS_APP" run e2e-client --rm -i --restart=Never --image=curlimages/curl:8.11.1 \
		--overrides='{"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":100,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"e2e-client","image":"curlimages/curl:8.11.1","args":["-sf","-m","900","-X","POST","-H","Content-Type: application/json","-d","{\"instances\":[\"hi\"]}","http://embed-zero/v1/models/embed-zero:predict"],"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}' \
		|| die "embed-zero: the request after zero was not answered"
	kubectl -n "$NS_APP" get endpointslice embed-zero-inferop -o jsonpath='{.metadata.annotations}' \
		| grep -q '"Pods"' || die "embed-zero: its EndpointSlice does not point at the pod again"
fi

log "6. no permission errors in the operator's log"
if kubectl -n "$NS_OPERATOR" logs deployment/inferop | grep -iE 'forbidden|HTTP 403|not enough permissions'; then
	die "the operator hit permission errors with the chart's RBAC"
fi
log "OK"
