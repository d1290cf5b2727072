//go:build tools

// Package tools pins the main package built by hack/build-helm.sh.
package tools

import (
	_ "helm.sh/helm/v3/cmd/helm"
)
