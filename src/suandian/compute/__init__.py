"""Compute–power synergy (算电协同) kernels: jobs, grid signals, placement strategies, plan checks.

Pure: arrays and dataclasses in and out; no storage, configuration, web or CLI imports.
"""
