"""The contracts plugins and core share: specs, options, tasks, hooks, adapters, data types."""
