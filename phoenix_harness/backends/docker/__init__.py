"""The Docker backend and its private engine (only this package imports ``docker``/testcontainers)."""
