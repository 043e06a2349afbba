"""Layer 8, engine: runs an experiment's phases and emits events (never imports reporting)."""
