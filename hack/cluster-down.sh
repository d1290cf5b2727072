#!/usr/bin/env bash
# Stop and delete the local kwok cluster made by hack/cluster-up.sh, and make sure no process of it
# is left: after kwokctl's delete, every process whose command line names the cluster's directory is
# stopped (SIGTERM, then SIGKILL), and the script fails if one survives.
# Leaves the binary cache alone. Safe to run when the cluster does not exist (it still stops what an
# earlier delete left running).
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

if [[ ! -d "$CLUSTER_DIR" ]] && [[ -z "$(cluster_pids "$CLUSTER_DIR")" ]]; then
	log "cluster '$NAME' does not exist ($CLUSTER_DIR)"
	exit 0
fi

if command -v flock >/dev/null 2>&1; then
	mkdir -p "$INFEROP_CACHE/locks"
	exec 8>"$INFEROP_CACHE/locks/cluster-$NAME.lock"
	flock -w 600 8 || die "timed out waiting for $INFEROP_CACHE/locks/cluster-$NAME.lock"
fi

if [[ -d "$CLUSTER_DIR" ]]; then
	# Use the kwokctl the cluster was made with; never build just to tear down. The marker is
	# "<bin dir> heartbeatFactor=<n>" (cluster-up.sh's STAMP); reading all of it as the bin dir made
	# this script skip kwokctl on every cluster since that suffix was added (trap 15).
	BIN_DIR="$(cat "$CLUSTER_DIR/.inferop-bin-dir" 2>/dev/null || true)"
	BIN_DIR="${BIN_DIR%% heartbeatFactor=*}"
	[[ -x "$BIN_DIR/kwokctl" ]] || BIN_DIR="$INFEROP_BIN_DIR"
	if [[ -x "$BIN_DIR/kwokctl" ]]; then
		export PATH="$BIN_DIR:$PATH"
		# --kubeconfig must be non-empty here (kwokctl rejects ""); a path that does not
		# exist means kwokctl leaves ~/.kube/config untouched.
		kwokctl delete cluster --name "$NAME" --kubeconfig "$KWOK_WORKDIR/.inferop-no-kubeconfig" >&2 8>&- ||
			log "kwokctl delete cluster failed; stopping the cluster's processes directly"
	else
		log "kwokctl not found in $BIN_DIR; stopping the cluster's processes directly"
	fi
fi

# kwokctl's delete does not stop every process it started (hack/README.md, trap 15): stop what is
# left of this cluster, and only of this cluster (matched by its directory).
stop_cluster_processes "$CLUSTER_DIR" || die "cluster '$NAME' not fully stopped"
rm -rf "$CLUSTER_DIR"
log "cluster '$NAME' deleted"
