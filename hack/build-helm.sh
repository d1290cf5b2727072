#!/usr/bin/env bash
# Build Helm from its Go module (helm.sh/helm/v3/cmd/helm, wrapper module hack/helm) into a
# cache directory outside the repo, and print that directory as the last stdout line.
#
#   hack/build-helm.sh            # build if needed, print the bin dir (contains `helm`)
#   hack/build-helm.sh --force    # rebuild even if the cache is complete
#
# Cache:    ${INFEROP_CACHE:-$HOME/.cache/inferop}/helm-<version>/bin
# Version:  HELM_VERSION below; hack/helm/go.mod must require the same version (checked).
#           To bump: edit both, then `cd hack/helm && GOFLAGS=-mod=mod go mod tidy`.
#
# Environment:
#   INFEROP_CACHE        cache root (default $HOME/.cache/inferop)
#   INFEROP_GOTOOLCHAIN  GOTOOLCHAIN for the build (default auto)
#   INFEROP_GO_BUILD_P   go build -p (default: number of CPUs)
#
# Logs go to stderr; only the bin dir goes to stdout.
set -euo pipefail
LOG_TAG=build-helm
# shellcheck source=hack/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Helm 3.22.0: the newest Helm 3 on the Go module proxy (3.17+ has --take-ownership; we do not
# rely on it). Built against k8s.io/* v0.37, which talks to our 1.36 API server fine (+/-1 skew).
HELM_VERSION=v3.22.0

build_args 17 "$@"

WRAPPER="$HACK_DIR/helm"
BIN_DIR="$INFEROP_CACHE/helm-$HELM_VERSION/bin"
STAMP="$BIN_DIR/.stamp"
# Bump RECIPE when the way helm is built changes (flags, ldflags) to invalidate caches.
RECIPE=1

stamp_value() {
	{
		echo "recipe=$RECIPE helm=$HELM_VERSION"
		cat "$WRAPPER/go.mod" "$WRAPPER/go.sum"
	} | sha256sum | cut -d' ' -f1
}

cache_complete() {
	[[ -x "$BIN_DIR/helm" && -f "$STAMP" && "$(cat "$STAMP")" == "$(stamp_value)" ]]
}

if [[ "$FORCE" == 0 ]] && cache_complete; then
	log "cache hit: $BIN_DIR/helm"
	echo "$BIN_DIR"
	exit 0
fi

grep -qE "^require helm\.sh/helm/v3 $HELM_VERSION\$" "$WRAPPER/go.mod" ||
	die "hack/helm/go.mod does not require helm.sh/helm/v3 $HELM_VERSION (see the header of this script)"

mkdir -p "$INFEROP_CACHE/locks"
# Serialise concurrent builds (make chart-check and a test run starting together).
if command -v flock >/dev/null 2>&1; then
	exec 9>"$INFEROP_CACHE/locks/build-helm-$HELM_VERSION.lock"
	if ! flock -n 9; then
		log "another build holds $INFEROP_CACHE/locks/build-helm-$HELM_VERSION.lock; waiting"
		flock -w 1800 9 || die "timed out waiting for the helm build lock"
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
START=$SECONDS
log "building helm $HELM_VERSION ($(cd "$WRAPPER" && go version), GOTOOLCHAIN=$GOTOOLCHAIN, -p=$P)"

# What helm's own Makefile stamps: the version, and the Kubernetes version of its client-go
# (major+1 because client-go is v0.x), which is the default .Capabilities.KubeVersion of
# `helm template`/`helm lint` and the deprecation checks' target.
CLIENT_GO="$(cd "$WRAPPER" && go list -m -f '{{.Version}}' k8s.io/client-go)" # v0.37.0
K8S_MINOR="$(cut -d. -f2 <<<"$CLIENT_GO")"
LDFLAGS="-s -w"
LDFLAGS+=" -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
LDFLAGS+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
	LDFLAGS+=" -X $pkg.k8sVersionMajor=1 -X $pkg.k8sVersionMinor=$K8S_MINOR"
done

WORK="$(mktemp -d "$INFEROP_CACHE/.build-helm.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
(cd "$WRAPPER" && go build -p "$P" -trimpath -ldflags "$LDFLAGS" -o "$WORK/helm" helm.sh/helm/v3/cmd/helm)

got="$("$WORK/helm" version --template '{{.Version}}')"
[[ "$got" == "$HELM_VERSION" ]] || die "built helm reports version '$got', expected $HELM_VERSION"

mkdir -p "$BIN_DIR"
rm -f "$STAMP"
mv -f "$WORK/helm" "$BIN_DIR/helm"
cat >"$BIN_DIR/VERSIONS" <<EOF
helm $HELM_VERSION (k8s.io/client-go $CLIENT_GO)
built with $(cd "$WRAPPER" && go version)
built at $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((SECONDS - START))s
EOF
stamp_value >"$STAMP"
log "built helm $HELM_VERSION in $((SECONDS - START))s -> $BIN_DIR"
echo "$BIN_DIR"
