"""Green-power traceability kernels: hourly attribution of consumption to sources, daily metrics."""
