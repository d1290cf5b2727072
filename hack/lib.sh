# shellcheck shell=bash disable=SC2034
# Shared helpers for the hack/ scripts. Sourced, never executed.

HACK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=hack/versions.sh
. "$HACK_DIR/versions.sh"

INFEROP_CACHE="${INFEROP_CACHE:-$HOME/.cache/inferop}"
# Where build-control-plane.sh puts (and finds) the binaries.
INFEROP_BIN_DIR="$INFEROP_CACHE/k8s-$K8S_VERSION/bin"

log() { printf '[%s] %s\n' "${LOG_TAG:-hack}" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# go_env_for_wrappers: the environment every go command on hack/*/go.mod runs with.
# - GOWORK=off: never pick up a go.work from a parent directory.
# - GOFLAGS is replaced, not appended to: -mod=readonly makes the checked-in go.sum
#   authoritative (a missing hash is an error, never a silent edit).
# - GOTOOLCHAIN=auto: the wrapper go.mod files say `toolchain go1.26.8`; an older local
#   Go fetches that toolchain through the module proxy. (Some images ship GOTOOLCHAIN=local
#   in $GOROOT/go.env or `go env -w`; the environment variable overrides both.)
go_env_for_wrappers() {
	export GOWORK=off
	export GOFLAGS="-mod=readonly -buildvcs=false"
	export GOTOOLCHAIN="${INFEROP_GOTOOLCHAIN:-auto}"
	export CGO_ENABLED=0
}

# ensure_go: make sure a Go >= 1.21 (which understands GOTOOLCHAIN) is on PATH.
# If not, fetch the pinned toolchain from the Go module proxy (module golang.org/toolchain,
# exactly what GOTOOLCHAIN downloads) into the cache, checking a pinned sha256.
ensure_go() {
	local v=""
	if [[ "${INFEROP_FORCE_GO_BOOTSTRAP:-}" != 1 ]] && command -v go >/dev/null 2>&1; then
		v="$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null || true)"
		v="${v#go}"
		local major="${v%%.*}" rest="${v#*.}"
		local minor="${rest%%[!0-9]*}"
		if [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] && ((major > 1 || minor >= 21)); then
			return 0
		fi
		log "go ${v:-?} on PATH is too old for GOTOOLCHAIN; bootstrapping go$GO_TOOLCHAIN_VERSION"
	else
		log "no usable go on PATH; bootstrapping go$GO_TOOLCHAIN_VERSION from the module proxy"
	fi

	local arch
	case "$(uname -m)" in
	x86_64 | amd64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) die "unsupported architecture $(uname -m)" ;;
	esac
	[[ "$(uname -s)" == Linux ]] || die "Go bootstrap supports Linux only; install Go >= 1.21"
	local sumvar="GO_TOOLCHAIN_SHA256_linux_$arch"
	local want="${!sumvar}"
	local goroot="$INFEROP_CACHE/go$GO_TOOLCHAIN_VERSION.linux-$arch"
	if [[ ! -x "$goroot/bin/go" ]]; then
		local proxy="${GOPROXY:-https://proxy.golang.org}"
		proxy="${proxy%%[,|]*}"
		[[ "$proxy" == direct || "$proxy" == off || -z "$proxy" ]] && proxy=https://proxy.golang.org
		local name="v0.0.1-go$GO_TOOLCHAIN_VERSION.linux-$arch"
		local url="$proxy/golang.org/toolchain/@v/$name.zip"
		local tmp
		mkdir -p "$INFEROP_CACHE"
		tmp="$(mktemp -d "$INFEROP_CACHE/.go-bootstrap.XXXXXX")"
		log "downloading $url"
		if command -v curl >/dev/null 2>&1; then
			curl -fsSL --retry 3 -o "$tmp/go.zip" "$url"
		elif command -v wget >/dev/null 2>&1; then
			wget -q -O "$tmp/go.zip" "$url"
		else
			python3 -c 'import sys,urllib.request;urllib.request.urlretrieve(sys.argv[1],sys.argv[2])' "$url" "$tmp/go.zip"
		fi
		local got
		got="$(sha256sum "$tmp/go.zip" | cut -d' ' -f1)"
		[[ "$got" == "$want" ]] || { rm -rf "$tmp"; die "sha256 mismatch for $url: got $got want $want"; }
		if command -v unzip >/dev/null 2>&1; then
			unzip -q "$tmp/go.zip" -d "$tmp/x"
		else
			python3 -m zipfile -e "$tmp/go.zip" "$tmp/x"
		fi
		# Module zips carry no file modes (cmd/go sets them the same way).
		chmod -R u+rwX,go+rX "$tmp/x"
		chmod +x "$tmp/x/golang.org/toolchain@$name"/bin/* "$tmp/x/golang.org/toolchain@$name"/pkg/tool/*/*
		rm -rf "$goroot"
		mv "$tmp/x/golang.org/toolchain@$name" "$goroot"
		rm -rf "$tmp"
	fi
	export PATH="$goroot/bin:$PATH"
	unset GOROOT
	log "using $("$goroot/bin/go" version)"
}

# build_args LAST_HELP_LINE "$@": the build scripts' flags. Sets FORCE=1 for --force; --help prints
# the script's header comment (lines 2..LAST_HELP_LINE) and exits; anything else is an error.
build_args() {
	local help_end="$1"
	shift
	FORCE=0
	for arg in "$@"; do
		case "$arg" in
		--force) FORCE=1 ;;
		-h | --help)
			sed -n "2,${help_end}p" "$0" | sed 's/^# \{0,1\}//'
			exit 0
			;;
		*) die "unknown argument: $arg" ;;
		esac
	done
}

# wait_established TIMEOUT_S CRD...: poll until every named CRD has condition Established=True.
# CRD names may be bare or as `kubectl apply -o name` prints them. Uses `kubectl` from PATH with the
# caller's KUBECONFIG. Returns 1 after TIMEOUT_S seconds, naming each CRD that is not Established and
# what was last seen.
# Why not `kubectl wait --for=condition=Established`: on a CRD created a moment before, the API server
# serves `status.conditions: null` until the apiextensions controller writes the status, and kubectl
# fails at once on a null list (".status.conditions accessor error: <nil>") instead of waiting.
wait_established() {
	local timeout="$1"
	shift
	local deadline=$((SECONDS + timeout)) name status pending=() still=() why=()
	for name in "$@"; do
		name="${name#customresourcedefinition.apiextensions.k8s.io/}"
		name="${name#crd/}"
		pending+=("$name")
	done
	((${#pending[@]} > 0)) || { log "wait_established: no CRD names given"; return 1; }
	while :; do
		still=()
		why=()
		for name in "${pending[@]}"; do
			# Empty when the CRD or its condition is missing; "False" etc. otherwise.
			if ! status="$(kubectl get crd "$name" --ignore-not-found \
				-o jsonpath='{.status.conditions[?(@.type=="Established")].status}' 2>&1)"; then
				status="kubectl get failed: ${status: -200}"
			fi
			[[ "$status" == True ]] && continue
			still+=("$name")
			why+=("$name (${status:-not found, or no Established condition yet})")
		done
		((${#still[@]} == 0)) && return 0
		if ((SECONDS >= deadline)); then
			log "ERROR: ${#still[@]} CRD(s) not Established after ${timeout}s: ${why[*]}"
			return 1
		fi
		pending=("${still[@]}")
		sleep 0.2
	done
}

# cluster_pids [--cwd] DIR: pids of the processes of the cluster directory DIR (a kwokctl cluster's
# $KWOK_WORKDIR/clusters/<name>), one per line: those whose command line holds "DIR/" (every component
# kwokctl starts runs as DIR/bin/<component>, with its pki, kubeconfig and logs under DIR), so cluster
# "a" never matches cluster "a-b"; the text stays in the command line after DIR is removed. With
# --cwd instead: those whose working directory is DIR or below it, removed or not (a developer's
# shell or `tail -f` in DIR/logs: reported by stop_cluster_processes, never stopped). The calling
# shell, its ancestors and the script's ($$) descendants are left out: cluster-down may run from
# inside DIR or from a `bash -c` whose text names DIR.
cluster_pids() {
	local by=cmdline
	[[ "${1:-}" == --cwd ]] && { by=cwd; shift; }
	local dir="${1%/}" pid re
	[[ "$dir" == /*/* ]] || { log "cluster_pids: refusing a short or relative path '$dir'"; return 1; }
	local -A ancestors=()
	pid=$BASHPID
	while [[ -n "$pid" ]] && ((pid > 1)); do
		ancestors[$pid]=1
		pid="$(_ppid "$pid")"
	done
	# "DIR[/]" as an extended regex: grep's own command line does not match it.
	re="$(printf '%s' "$dir" | sed 's/[][\.*^$+?(){}|]/\\&/g')[/]"
	(
		# From /, so the helpers of this pipeline never match by their own cwd.
		cd /
		if [[ "$by" == cwd ]]; then
			find /proc -mindepth 2 -maxdepth 2 -name cwd \( -lname "$dir" -o -lname "$dir/*" \
				-o -lname "$dir (deleted)" \) 2>/dev/null | cut -d/ -f3
		else
			grep -laE -- "$re" /proc/[0-9]*/cmdline 2>/dev/null | cut -d/ -f3
		fi | sort -un | while read -r pid; do
			local p="$pid" mine=""
			[[ -n "${ancestors[$pid]:-}" ]] && mine=1
			# Walk up to init: a descendant of this script (this pipeline included) is not the cluster's.
			while [[ -z "$mine" && -n "$p" ]] && ((p > 1)); do
				[[ "$p" == "$$" ]] && mine=1
				p="$(_ppid "$p")"
			done
			# Gone already (a short-lived helper): nothing to stop.
			[[ -z "$mine" && -e "/proc/$pid" ]] && echo "$pid"
		done
	)
}

# _ppid PID: the parent pid of PID (empty if PID is gone). Reads /proc/PID/stat; the command name
# (field 2) may hold spaces, so fields are counted after its closing parenthesis.
_ppid() {
	local line fields
	{ IFS= read -r line <"/proc/$1/stat"; } 2>/dev/null || return 0
	read -r -a fields <<<"${line##*) }"
	printf '%s\n' "${fields[1]:-}"
}

# stop_cluster_processes DIR: SIGTERM every process of the cluster directory DIR (see cluster_pids),
# SIGKILL what is left after 10 s, and fail loudly (return 1, naming them) if any survives that.
# Run after kwokctl's delete, for what it missed: a component without a pid file (started twice), or
# everything when kwokctl was not run (hack/README.md, trap 15).
stop_cluster_processes() {
	local dir="$1" pids=() signalled=() pid
	_remaining() {
		# What cluster_pids finds, plus what we signalled and is still alive (an exiting process has
		# lost its command line and cwd before it is gone).
		local -A seen=()
		for pid in $(cluster_pids "$dir") "${signalled[@]}"; do
			[[ -z "${seen[$pid]:-}" ]] && _alive "$pid" && { seen[$pid]=1; echo "$pid"; }
		done
		return 0
	}
	_wait_gone() {
		# Poll for up to $1 s; success when no process is left, else pids holds the survivors.
		local until=$((SECONDS + $1))
		while :; do
			mapfile -t pids < <(_remaining)
			((${#pids[@]} == 0)) && return 0
			((SECONDS < until)) || return 1
			sleep 0.2
		done
	}
	mapfile -t pids < <(_remaining)
	for pid in $(cluster_pids --cwd "$dir"); do
		[[ " ${pids[*]} " == *" $pid "* ]] ||
			log "note: pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) has its working directory in $dir; not stopped"
	done
	((${#pids[@]} == 0)) && return 0
	signalled=("${pids[@]}")
	for pid in "${pids[@]}"; do
		log "stopping pid $pid of $dir (SIGTERM): $(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-160)"
		kill -TERM "$pid" 2>/dev/null || true
	done
	_wait_gone 10 && return 0
	signalled+=("${pids[@]}")
	for pid in "${pids[@]}"; do
		log "pid $pid of $dir still running 10 s after SIGTERM; SIGKILL"
		kill -KILL "$pid" 2>/dev/null || true
	done
	_wait_gone 5 && return 0
	log "ERROR: processes of $dir survived SIGKILL: $(for pid in "${pids[@]}"; do printf '%s(%s) ' "$pid" "$(cat "/proc/$pid/comm" 2>/dev/null)"; done)"
	return 1
}

# _alive PID: PID exists and is not a zombie (a zombie holds no memory or port; in a container whose
# init does not reap, it would never go away).
_alive() {
	local line fields
	{ IFS= read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
	read -r -a fields <<<"${line##*) }"
	[[ "${fields[0]:-}" != Z && "${fields[0]:-}" != X ]]
}
