"""Park simulation: compose the energy kernels over a scenario and summarise the result."""
