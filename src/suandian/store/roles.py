"""The platform's roles, in a module of their own so that the command line can name them
without loading the SQL layer."""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = ["PARK_ROLES", "ROLES", "Role"]

Role = Literal["park_admin", "operator", "auditor", "tenant"]
ROLES: Final[tuple[str, ...]] = get_args(Role)
PARK_ROLES: Final = ("park_admin", "operator", "auditor")
"""Roles of the park's own staff (a tenant is the other kind of organisation)."""
