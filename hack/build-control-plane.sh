#!/usr/bin/env bash
# Build a real Kubernetes control plane (plus etcd and kwok) from Go modules into a
# cache directory outside the repo, and print that directory as the last stdout line.
#
#   hack/build-control-plane.sh            # build if needed, print the bin dir
#   hack/build-control-plane.sh --force    # rebuild even if the cache is complete
#
# Binaries: kube-apiserver kube-controller-manager kube-scheduler kubectl (k8s.io/kubernetes),
# etcd etcdctl etcdutl (go.etcd.io/etcd), kwok kwokctl (sigs.k8s.io/kwok). Versions: hack/versions.sh.
# Cache:    ${INFEROP_CACHE:-$HOME/.cache/inferop}/k8s-<version>/bin
#
# Environment:
#   INFEROP_CACHE        cache root (default $HOME/.cache/inferop)
#   INFEROP_GOTOOLCHAIN  GOTOOLCHAIN for the build (default auto)
#   INFEROP_GO_BUILD_P   go build -p (default: number of CPUs)
#
# Logs go to stderr; only the bin dir goes to stdout.
set -euo pipefail
LOG_TAG=build-control-plane
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_args 18 "$@"

BINARIES=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd etcdctl etcdutl kwok kwokctl)
BIN_DIR="$INFEROP_BIN_DIR"
STAMP="$BIN_DIR/.stamp"
# Bump RECIPE when the way binaries are built changes (flags, ldflags) to invalidate caches.
RECIPE=2

stamp_value() {
	{
		echo "recipe=$RECIPE k8s=$K8S_VERSION etcd=$ETCD_VERSION kwok=$KWOK_VERSION"
		cat "$HACK_DIR"/k8s/go.mod "$HACK_DIR"/k8s/go.sum \
			"$HACK_DIR"/etcd/go.mod "$HACK_DIR"/etcd/go.sum \
			"$HACK_DIR"/kwok/go.mod "$HACK_DIR"/kwok/go.sum
	} | sha256sum | cut -d' ' -f1
}

cache_complete() {
	local b
	for b in "${BINARIES[@]}"; do
		[[ -x "$BIN_DIR/$b" ]] || return 1
	done
	[[ -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_value)" ]]
}

if [[ "$FORCE" == 0 ]] && cache_complete; then
	log "cache hit: all binaries present in $BIN_DIR"
	echo "$BIN_DIR"
	exit 0
fi

mkdir -p "$INFEROP_CACHE/locks"
# Serialise concurrent builds (make cluster-up and a test run starting together).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$INFEROP_CACHE/locks/build-$K8S_VERSION.lock"
	if ! flock -n 9; then
		log "another build holds $INFEROP_CACHE/locks/build-$K8S_VERSION.lock; waiting"
		flock 9
	fi
	if [[ "$FORCE" == 0 ]] && cache_complete; then
		log "cache completed by another build: $BIN_DIR"
		echo "$BIN_DIR"
		exit 0
	fi
fi

ensure_go
go_env_for_wrappers
P="${INFEROP_GO_BUILD_P:-$(nproc 2>/dev/null || echo 2)}"

GO_VERSION_USED="$(cd "$HACK_DIR/k8s" && go version)"
log "building control plane: kubernetes $K8S_VERSION, etcd $ETCD_VERSION, kwok $KWOK_VERSION"
log "toolchain: $GO_VERSION_USED (GOTOOLCHAIN=$GOTOOLCHAIN, -p=$P)"

WORK="$(mktemp -d "$INFEROP_CACHE/.build.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
START=$SECONDS

timed() { # timed <label> <cmd...>
	local label="$1" t0=$SECONDS
	shift
	log "$label ..."
	"$@"
	log "$label done in $((SECONDS - t0))s"
}

gobuild() { # gobuild <wrapper dir> <ldflags> <go build args...>
	local dir="$1" ldflags="$2"
	shift 2
	(cd "$HACK_DIR/$dir" && go build -p "$P" -trimpath -ldflags "$ldflags" "$@")
}

# --- kwok / kwokctl. Version and KubeVersion are what `make build` stamps upstream;
# KubeVersion is kwokctl's default --kube-version (only used to pick download URLs, which
# we never use because every binary is passed explicitly).
KWOK_LDFLAGS="-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}"
KWOK_LDFLAGS+=" -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${K8S_VERSION#v}"
KWOK_LDFLAGS+=" -X sigs.k8s.io/kwok/pkg/consts.PreRelease=GA"
timed "build kwok, kwokctl ($KWOK_VERSION)" \
	gobuild kwok "$KWOK_LDFLAGS" -o "$WORK/" sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl

# --- etcd / etcdctl. The version string is a constant in go.etcd.io/etcd/api/v3/version,
# so no stamping is needed. `go build -o etcd` because the package's last element is "v3".
# etcdctl/etcdutl are what kwokctl uses for `kwokctl etcdctl` and snapshots.
build_etcd() {
	gobuild etcd "-s -w" -o "$WORK/etcd" go.etcd.io/etcd/server/v3
	gobuild etcd "-s -w" -o "$WORK/" go.etcd.io/etcd/etcdctl/v3 go.etcd.io/etcd/etcdutl/v3
}
timed "build etcd, etcdctl, etcdutl ($ETCD_VERSION)" build_etcd

# --- Kubernetes. Without -X stamping the binaries report v0.0.0-master+$Format:%H$,
# kwokctl cannot tell which flags the components accept, and /version is useless.
K8S_MINOR="${K8S_VERSION#v1.}"
K8S_MINOR="${K8S_MINOR%%.*}"
K8S_BUILD_DATE="$(cd "$HACK_DIR/k8s" && go list -m -f '{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}' k8s.io/kubernetes)"
K8S_LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	K8S_LDFLAGS+=" -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$K8S_MINOR"
	K8S_LDFLAGS+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$K8S_BUILD_DATE"
done
timed "build kube-apiserver, kube-controller-manager, kube-scheduler, kubectl ($K8S_VERSION)" \
	gobuild k8s "$K8S_LDFLAGS" -o "$WORK/" \
	k8s.io/kubernetes/cmd/kube-apiserver \
	k8s.io/kubernetes/cmd/kube-controller-manager \
	k8s.io/kubernetes/cmd/kube-scheduler \
	k8s.io/kubernetes/cmd/kubectl

# --- Check what we built reports the pinned versions.
check_version() { # check_version <binary> <expected substring> <args...>
	local bin="$1" want="$2" out
	shift 2
	out="$("$WORK/$bin" "$@" 2>&1 | head -3)" || true
	[[ "$out" == *"$want"* ]] || die "$bin $* printed '$out', expected '$want'"
	log "$bin: $(head -1 <<<"$out")"
}
check_version kube-apiserver "Kubernetes $K8S_VERSION" --version
check_version kube-controller-manager "Kubernetes $K8S_VERSION" --version
check_version kube-scheduler "Kubernetes $K8S_VERSION" --version
check_version kubectl "Client Version: $K8S_VERSION" version --client
check_version etcd "etcd Version: ${ETCD_VERSION#v}" --version
check_version etcdctl "etcdctl version: ${ETCD_VERSION#v}" version
check_version etcdutl "etcdutl version: ${ETCD_VERSION#v}" version
check_version kwokctl "${KWOK_VERSION#v}" --version
check_version kwok "${KWOK_VERSION#v}" --version

mkdir -p "$BIN_DIR"
rm -f "$STAMP"
for b in "${BINARIES[@]}"; do
	mv -f "$WORK/$b" "$BIN_DIR/$b"
done
cat >"$BIN_DIR/VERSIONS" <<EOF
kubernetes $K8S_VERSION
etcd $ETCD_VERSION
kwok $KWOK_VERSION
built with $GO_VERSION_USED
built at $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - START))s
EOF
stamp_value >"$STAMP"
log "built all binaries in $((SECONDS - START))s -> $BIN_DIR"
echo "$BIN_DIR"
