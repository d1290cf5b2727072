#!/usr/bin/env bash
# Start (or reuse) a local Kubernetes cluster: real etcd, kube-apiserver,
# kube-controller-manager and kube-scheduler built from Go modules
# (hack/build-control-plane.sh), run by `kwokctl --runtime binary`, with fake GPU
# nodes from hack/nodes.yaml that kwok marks Ready and whose pods kwok marks Running.
#
#   hack/cluster-up.sh                       # cluster "inferop"
#   INFEROP_CLUSTER_NAME=inferop-test hack/cluster-up.sh
#   eval "$(hack/cluster-up.sh)"             # sets KUBECONFIG (and INFEROP_AUDIT_LOG)
#
# Authorization (Node,RBAC), the default admission plugins (incl. PodSecurity,
# ResourceQuota, ServiceAccount) and an audit log of every write are enabled.
# Nothing is downloaded: every binary kwokctl could fetch is passed explicitly.
#
# stdout: `export INFEROP_AUDIT_LOG=...` then, as the LAST line, `export KUBECONFIG=...`.
# Everything else goes to stderr.
#
# Environment:
#   INFEROP_CLUSTER_NAME  cluster name (default inferop)
#   KWOK_WORKDIR          kwokctl's work dir (default ~/.kwok); the cluster lives in
#                         $KWOK_WORKDIR/clusters/<name>
#   INFEROP_CACHE         binary cache root (see build-control-plane.sh)
set -euo pipefail
LOG_TAG=cluster-up
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

T0=$SECONDS
NAME="${INFEROP_CLUSTER_NAME:-inferop}"
[[ "$NAME" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "invalid INFEROP_CLUSTER_NAME '$NAME'"

BIN_DIR="$("$HACK_DIR/build-control-plane.sh" | tail -n 1)"
[[ -x "$BIN_DIR/kwokctl" ]] || die "build-control-plane.sh did not produce $BIN_DIR/kwokctl"
# Our bin dir first: kwokctl looks kubectl up on PATH before trying to download it.
export PATH="$BIN_DIR:$PATH"

export KWOK_WORKDIR="${KWOK_WORKDIR:-$HOME/.kwok}"
CLUSTER_DIR="$KWOK_WORKDIR/clusters/$NAME"
KUBECONFIG_PATH="$CLUSTER_DIR/kubeconfig.yaml"
AUDIT_LOG="$CLUSTER_DIR/logs/audit.log"
MARKER="$CLUSTER_DIR/.inferop-bin-dir"
# kwokctl scales kwok's node Lease duration (40 s) and node status period (10 s) by its heartbeat
# factor. Its default factor, 5, makes the Lease 200 s, and a restarted kwok-controller waits that
# long before it manages any node; factor 1 gives the kubelet's defaults.
HEARTBEAT_FACTOR=1
LEASE_SECONDS=$((40 * HEARTBEAT_FACTOR))
# The marker records what the cluster was made with; a different value recreates it. cluster-down.sh
# reads the bin dir back as everything before " heartbeatFactor=": keep that suffix last.
STAMP="$BIN_DIR heartbeatFactor=$HEARTBEAT_FACTOR"

# One cluster-up/cluster-down per cluster name at a time. The lock is fd 8; every
# kwokctl call gets `8>&-` because the components kwokctl starts are daemons that
# would otherwise inherit fd 8 and hold the lock for the life of the cluster.
mkdir -p "$INFEROP_CACHE/locks"
if command -v flock >/dev/null 2>&1; then
	exec 8>"$INFEROP_CACHE/locks/cluster-$NAME.lock"
	if ! flock -w 600 8; then
		die "timed out waiting for $INFEROP_CACHE/locks/cluster-$NAME.lock (held by: $(fuser "$INFEROP_CACHE/locks/cluster-$NAME.lock" 2>/dev/null))"
	fi
fi

kc() { kubectl --kubeconfig "$KUBECONFIG_PATH" "$@"; }

responds() {
	[[ -f "$KUBECONFIG_PATH" ]] && kc get --raw /readyz --request-timeout=5s >/dev/null 2>&1
}

responds_within() { # SECONDS
	local i
	for ((i = 0; i < $1; i++)); do
		responds && return 0
		sleep 1
	done
	responds
}

delete_cluster() {
	# --kubeconfig must be non-empty for delete; point it at a file that does not exist
	# so kwokctl never rewrites ~/.kube/config.
	kwokctl delete cluster --name "$NAME" --kubeconfig "$KWOK_WORKDIR/.inferop-no-kubeconfig" >&2 8>&- || true
	# What kwokctl's delete left running (hack/README.md, trap 15), matched by the cluster's directory.
	stop_cluster_processes "$CLUSTER_DIR" || die "could not stop the old processes of cluster '$NAME'"
	rm -rf "$CLUSTER_DIR"
}

create_cluster() {
	# Binaries without a CLI flag (kubectl, etcdctl, etcdutl) go in a config file. Things we
	# do not build (kectl, prometheus, jaeger, metrics-server, kind) point at a path that
	# does not exist, so enabling one fails fast instead of reaching for GitHub/dl.k8s.io.
	local cfg="$INFEROP_CACHE/kwokctl-$NAME.yaml" none="$BIN_DIR/not-built"
	cat >"$cfg" <<EOF
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  runtime: binary
  # kwokctl's default is 0.0.0.0: etcd (plain http, no auth) and every component
  # would listen on all interfaces.
  bindAddress: 127.0.0.1
  heartbeatFactor: $HEARTBEAT_FACTOR
  kubeVersion: $K8S_VERSION
  etcdVersion: ${ETCD_VERSION#v}
  kwokVersion: $KWOK_VERSION
  kubectlBinary: $BIN_DIR/kubectl
  etcdctlBinary: $BIN_DIR/etcdctl
  etcdutlBinary: $BIN_DIR/etcdutl
  kectlBinary: $none/kectl
  prometheusBinary: $none/prometheus
  jaegerBinary: $none/jaeger
  metricsServerBinary: $none/metrics-server
  kindBinary: $none/kind
EOF
	# --kubeconfig "": do not add a context to ~/.kube/config (kwokctl's default).
	kwokctl --config "$cfg" create cluster \
		--name "$NAME" \
		--runtime binary \
		--kube-apiserver-binary "$BIN_DIR/kube-apiserver" \
		--kube-controller-manager-binary "$BIN_DIR/kube-controller-manager" \
		--kube-scheduler-binary "$BIN_DIR/kube-scheduler" \
		--etcd-binary "$BIN_DIR/etcd" \
		--kwok-controller-binary "$BIN_DIR/kwok" \
		--secure-port=true \
		--kube-authorization=true \
		--kube-admission=true \
		--kube-audit-policy "$HACK_DIR/audit-policy.yaml" \
		--kubeconfig "" \
		--quiet-pull \
		--wait 120s \
		--timeout 5m >&2 8>&-
}

if responds && [[ "$(cat "$MARKER" 2>/dev/null)" == "$STAMP" ]]; then
	log "cluster '$NAME' exists and responds; reusing it"
else
	# A cluster that exists but does not answer is deleted, never restarted: a stopped cluster keeps
	# the ports kwokctl gave it, and another cluster created meanwhile may hold them now (kubectl then
	# reaches that cluster's apiserver and fails its certificate check, and kwokctl's restart waits
	# four minutes before it gives up); a restarted kwok-controller also manages no node until the old
	# node Leases expire (hack/README.md). A fresh cluster takes under a minute.
	if [[ -d "$CLUSTER_DIR" ]]; then
		if [[ "$(cat "$MARKER" 2>/dev/null)" != "$STAMP" ]]; then
			log "cluster '$NAME' was made with other binaries or settings (or not by this script); recreating"
		else
			log "cluster '$NAME' exists but does not answer (stopped); recreating"
		fi
		delete_cluster
	fi
	log "creating cluster '$NAME' (kwokctl --runtime binary, binaries from $BIN_DIR)"
	# If that fails (ports taken by a cluster started at the same moment: hack/README.md, trap 17) or
	# its apiserver never answers, delete it and create it once more, on fresh ports.
	if ! create_cluster || ! responds_within 60; then
		log "create failed or the apiserver does not answer; deleting cluster '$NAME' and retrying once"
		delete_cluster
		create_cluster
	fi
	echo "$STAMP" >"$MARKER"
fi

# Wait for the apiserver to be ready.
responds_within 120 || die "kube-apiserver of cluster '$NAME' is not ready; see kwokctl --name $NAME logs kube-apiserver"

log "applying fake nodes from hack/nodes.yaml"
kc apply -f "$HACK_DIR/nodes.yaml" >&2
kc wait --for=condition=Ready node -l type=kwok --timeout=120s >&2

# Pods are rejected until the ServiceAccount controller has made the namespace's
# "default" ServiceAccount, so wait for it before handing the cluster out.
for _ in $(seq 1 60); do
	kc get serviceaccount default -n default >/dev/null 2>&1 && break
	sleep 1
done
kc get serviceaccount default -n default >/dev/null 2>&1 || die "default ServiceAccount never appeared"

# Nodes that say Ready only prove a kwok-controller wrote them once. A restarted kwok-controller
# has a new identity and manages no node until the previous one's node Leases expire (one lease
# duration), and until then every pod stays Pending or not Ready. So prove kwok acts before
# handing the cluster out: a probe pod on a fake node must turn Ready.
kwok_acts() {
	# A fresh name per probe: an earlier probe may still be terminating (kwok finalizes deletes).
	local pod="inferop-kwok-probe-$RANDOM$RANDOM" ok=0
	kc -n default apply -f - >/dev/null <<EOF || return 1
apiVersion: v1
kind: Pod
metadata:
  name: $pod
  labels: {app.kubernetes.io/name: inferop-kwok-probe}
spec:
  nodeSelector: {type: kwok}
  tolerations: [{operator: Exists}]
  containers: [{name: probe, image: fake}]
EOF
	kc -n default wait --for=condition=Ready "pod/$pod" --timeout="$1s" >/dev/null 2>&1 || ok=1
	kc -n default delete pod "$pod" --ignore-not-found --wait=false >/dev/null 2>&1 || true
	return "$ok"
}
kwok_acts $((3 * LEASE_SECONDS)) ||
	die "kwok-controller did not make a probe pod Ready in $((3 * LEASE_SECONDS))s; see kwokctl --name $NAME logs kwok-controller"

log "cluster '$NAME' ready in $((SECONDS - T0))s ($(kc version -o json 2>/dev/null | sed -n 's/.*"gitVersion": "\(v[^"]*\)".*/\1/p' | tail -1))"
log "server:    $(kc config view -o jsonpath='{.clusters[0].cluster.server}')"
log "audit log: $AUDIT_LOG"
log "logs:      $CLUSTER_DIR/logs  (kwokctl --name $NAME logs <component>)"
echo "export INFEROP_AUDIT_LOG=$AUDIT_LOG"
echo "export KUBECONFIG=$KUBECONFIG_PATH"
