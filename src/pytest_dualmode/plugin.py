"""pytest-dualmode's pytest entry point (being written)."""
