"""Finding, loading and describing plugins: the registry, entry points, local model files."""
