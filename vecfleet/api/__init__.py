"""HTTP edges: the native /v1 API, the d-vecDB-compatible API, the console and metrics."""
