"""Units, time and errors shared by every layer."""
