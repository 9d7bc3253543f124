"""The quarterly model and its back ends, base figures, cases, the trade path and its forecast."""
