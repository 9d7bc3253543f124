"""The pure as-of run as named stages, and its typed result."""
