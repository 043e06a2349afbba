"""Layer 0, core: errors, secrets, processes and ports, option definitions."""
