"""Kubernetes support: manifests, a thin API layer, pipeline deployments, experiment overlap and a test cluster.

Only this package and ``backends/kubernetes.py`` import the ``kubernetes`` client, so the engine and the
local backend never pay for it.
"""
