"""Stores: the embedded DuckDB time-series store (and, later, the SQL layer)."""
