"""The platform service: REST API, ingestion, Carbon-Aware-SDK-compatible API and dashboard.

:func:`create_app` builds the FastAPI application over one :class:`~suandian.api.context.Platform`
(the SQL store, the readings store and the park scenario); ``suandian serve`` runs it.
"""

from suandian.api.app import create_app
from suandian.api.context import Platform

__all__ = ["Platform", "create_app"]
