"""Grid kernels: published emission factors, modelled hourly zone mixes and flow tracing.

Pure: arrays, floats and mappings in; arrays and frozen dataclasses out. The only file read is the
emission-factor table that ships with the package (``grid/data/emission_factors.csv``); nothing
here reads configuration, stores or the network.
"""
