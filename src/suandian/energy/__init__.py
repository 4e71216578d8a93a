"""Physical energy kernels: weather synthesis, PV, wind, hydro and loads.

Pure and vectorized: arrays, floats and a ``numpy.random.Generator`` in; arrays out. A whole year
at 15-min resolution is one call. Nothing here reads configuration, files or stores.
"""
