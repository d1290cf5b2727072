#!/usr/bin/env bash
# Stop and delete the local kwok cluster made by hack/cluster-up.sh.
# Leaves the binary cache alone. Safe to run when the cluster does not exist.
#
#   hack/cluster-down.sh
#   INFEROP_CLUSTER_NAME=inferop-test hack/cluster-down.sh
set -euo pipefail
LOG_TAG=cluster-down
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NAME="${INFEROP_CLUSTER_NAME:-inferop}"
[[ "$NAME" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "invalid INFEROP_CLUSTER_NAME '$NAME'"
export KWOK_WORKDIR="${KWOK_WORKDIR:-$HOME/.kwok}"
CLUSTER_DIR="$KWOK_WORKDIR/clusters/$NAME"

if [[ ! -d "$CLUSTER_DIR" ]]; then
	log "cluster '$NAME' does not exist ($CLUSTER_DIR)"
	exit 0
fi

if command -v flock >/dev/null 2>&1; then
	mkdir -p "$INFEROP_CACHE/locks"
	exec 8>"$INFEROP_CACHE/locks/cluster-$NAME.lock"
	flock -w 600 8 || die "timed out waiting for $INFEROP_CACHE/locks/cluster-$NAME.lock"
fi

# Use the kwokctl the cluster was made with; never build just to tear down.
BIN_DIR="$(cat "$CLUSTER_DIR/.inferop-bin-dir" 2>/dev/null || echo "$INFEROP_BIN_DIR")"
if [[ -x "$BIN_DIR/kwokctl" ]]; then
	export PATH="$BIN_DIR:$PATH"
	# --kubeconfig must be non-empty here (kwokctl rejects ""); a path that does not
	# exist means kwokctl leaves ~/.kube/config untouched.
	kwokctl delete cluster --name "$NAME" --kubeconfig "$KWOK_WORKDIR/.inferop-no-kubeconfig" >&2 8>&-
else
	# No kwokctl: stop the components by the pids kwokctl recorded, then remove the dir.
	log "kwokctl not found in $BIN_DIR; stopping components from $CLUSTER_DIR/pids"
	for f in "$CLUSTER_DIR"/pids/*.pid; do
		[[ -f "$f" ]] || continue
		pid="$(cat "$f")"
		if [[ "$pid" =~ ^[0-9]+$ ]]; then kill "$pid" 2>/dev/null || true; fi
	done
	sleep 1
	rm -rf "$CLUSTER_DIR"
fi
log "cluster '$NAME' deleted"
