"""Observability: renders the layers' plain counters as Prometheus metrics; logging."""
