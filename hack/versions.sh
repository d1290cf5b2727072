# shellcheck shell=bash disable=SC2034
# Pinned versions of the local control plane (sourced by the hack/ scripts).
# To bump: edit here, then run hack/update-modules.sh (rewrites hack/*/go.mod + go.sum).

# Kubernetes: kube-apiserver, kube-controller-manager, kube-scheduler, kubectl
# (Go module k8s.io/kubernetes; staging modules k8s.io/* at v0.<minor>.<patch>).
# kwok v0.8.0 lists 1.36.x as supported (supported_releases.txt, KubeVersion=1.36.1).
K8S_VERSION=v1.36.3
# etcd server + etcdctl (Go modules go.etcd.io/etcd/{server,etcdctl}/v3).
# k8s 1.36 kubeadm: MinExternalEtcdVersion=3.5.24, so 3.5.x latest is supported.
ETCD_VERSION=v3.5.35
# kwok (fake node/pod controller) and kwokctl (cluster launcher), sigs.k8s.io/kwok.
KWOK_VERSION=v0.8.0

# Go toolchain used when the machine's Go is missing or too old. Fetched from the
# Go module proxy as the module golang.org/toolchain (what GOTOOLCHAIN does).
GO_TOOLCHAIN_VERSION=1.26.8
# sha256 of https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go${GO_TOOLCHAIN_VERSION}.linux-<arch>.zip
GO_TOOLCHAIN_SHA256_linux_amd64=30c2b1bf7dcc88d3eb0a1364e47ddd9128edb3110a30e8a0ef61cd5856b31de7
GO_TOOLCHAIN_SHA256_linux_arm64=02b36b6787b3ac767668f630e2998df45a3b1f9ffee08d1bf3ef6487cd658d99
