"""Reports: green-power traceability from metered readings (daily, per consumer and park)."""
