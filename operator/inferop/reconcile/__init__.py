"""The I/O layer of the reconcile loop: read the cluster, apply what drifted, write status."""
