"""The I/O edge of a run: library entry points behind the CLI, batch, atomic outputs, history, result tables."""
