#!/usr/bin/env bash
# Print the path of a real Prometheus server binary, installing it into the cache on first use:
# Debian's `prometheus` package, unpacked (dpkg -x) into ${INFEROP_CACHE:-~/.cache/inferop}/prometheus-<ver>/
# so nothing is started or installed system-wide. Used by the cost controller's cluster tests.
set -euo pipefail
CACHE="${INFEROP_CACHE:-$HOME/.cache/inferop}"
DEST="$CACHE/prometheus"
BIN="$DEST/usr/bin/prometheus"
if [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; then
	echo "$BIN"
	exit 0
fi
command -v apt-get >/dev/null || { echo "prometheus.sh: needs apt-get (Debian/Ubuntu) to fetch Prometheus" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
if ! apt-get download prometheus >&2 2>"$tmp/err"; then
	echo "prometheus.sh: apt-get download failed ($(tr '\n' ' ' <"$tmp/err")); running apt-get update" >&2
	apt-get update -qq >&2
	apt-get download prometheus >&2
fi
rm -rf "$DEST"
mkdir -p "$DEST"
dpkg -x prometheus_*.deb "$DEST"
"$BIN" --version >&2
echo "$BIN"
