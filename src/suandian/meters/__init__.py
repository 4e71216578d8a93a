"""Meters of a park and the import of their interval-energy readings (green-power trace, part 1)."""

from suandian.meters.importer import ImportResult, import_readings
from suandian.meters.registry import meters_for_park

__all__ = ["ImportResult", "import_readings", "meters_for_park"]
