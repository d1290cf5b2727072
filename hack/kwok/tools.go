//go:build tools

// Package tools pins the main packages built by hack/build-control-plane.sh.
package tools

import (
	_ "sigs.k8s.io/kwok/cmd/kwok"
	_ "sigs.k8s.io/kwok/cmd/kwokctl"
)
