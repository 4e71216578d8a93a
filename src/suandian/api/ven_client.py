"""A VEN's side of OpenADR 3: fetch a token, poll a program's events, post reports.

Talks to any VTN speaking the subset in docs/openadr.md (the platform's own ``/openadr3`` among
them) over :mod:`httpx2`; pass ``http`` to reuse a client (e.g. FastAPI's ``TestClient``).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any, Final

import httpx2

from suandian.core.errors import InputError, NotFound, SuandianError

__all__ = ["PAGE", "VenClient", "VtnError"]

PAGE: Final = 50
"""The specification's largest page."""
_EARLY_S: Final = 30.0
"""Seconds before expiry at which a token is renewed."""


class VtnError(SuandianError):
    """The VTN refused a request or could not be reached; the message carries its problem."""


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


class VenClient:
    """One VEN of a VTN at ``base_url`` (e.g. ``https://vtn.example/openadr3``).

    The token flow and the calls are those of any OpenADR client, so a grid operator's
    (``bl``) client uses the same class through :meth:`create` and :meth:`all`.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        http: httpx2.Client | None = None,
        timeout_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._id = client_id
        self._secret = client_secret
        self._http = http if http is not None else httpx2.Client(timeout=timeout_s)
        self._clock = clock
        self._token: str | None = None
        self._expires_at = 0.0

    # --- plumbing ---------------------------------------------------------------------------

    def token(self) -> str:
        """A valid access token, fetched (client credentials) when none is held or it expires."""
        if self._token is not None and self._clock() < self._expires_at - _EARLY_S:
            return self._token
        try:
            r = self._http.post(
                f"{self._base}/auth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": self._id,
                    "client_secret": self._secret,
                },
            )
        except httpx2.HTTPError as exc:
            raise VtnError(f"VTN {self._base}: cannot fetch a token ({exc})") from exc
        if r.status_code != 200:
            raise VtnError(
                f"VTN {self._base}: token refused ({r.status_code}): "
                f"{r.json().get('error_description', r.text) if _is_json(r) else r.text}"
            )
        body = r.json()
        self._token = str(body["access_token"])
        self._expires_at = self._clock() + float(body.get("expires_in", 0))
        return self._token

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self.token()}"}
            try:
                r = self._http.request(method, f"{self._base}{path}", headers=headers, **kwargs)
            except httpx2.HTTPError as exc:
                raise VtnError(f"VTN {self._base}: {method} {path} failed ({exc})") from exc
            if r.status_code == 401 and attempt == 1:
                self._token = None  # expired or revoked early: one fresh token, then give up
                continue
            break
        if r.status_code < 300:
            return r.json()
        detail = r.json().get("detail", r.text) if _is_json(r) else r.text
        if r.status_code == 404:
            raise NotFound(f"VTN {self._base}: {method} {path}: {detail}")
        if r.status_code == 400:
            raise InputError(f"VTN {self._base}: {method} {path}: {detail}")
        raise VtnError(f"VTN {self._base}: {method} {path} answered {r.status_code}: {detail}")

    # --- what a VEN does --------------------------------------------------------------------

    def programs(self) -> list[dict[str, Any]]:
        """Every program of the VTN."""
        return self._all("/programs", {})

    def events(self, program_id: str, since: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Events of ``program_id``, oldest first; with ``since`` (tz-aware), only those created
        or modified after it."""
        if since is not None and since.tzinfo is None:
            raise InputError("since: naive datetime; give a tz-aware time (e.g. UTC)")
        events = self._all("/events", {"programID": program_id})
        if since is None:
            return events
        return [e for e in events if _parse_time(e["modificationDateTime"]) > since]

    def report(
        self,
        *,
        program_id: str,
        event_id: str,
        resources: list[dict[str, Any]],
        client_name: str | None = None,
        report_name: str | None = None,
        payload_descriptors: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Post a report on ``event_id``; ``resources`` as the specification's
        ``[{resourceName, intervals}]``. Answers the stored report."""
        body: dict[str, Any] = {
            "programID": program_id,
            "eventID": event_id,
            "clientName": client_name or self._id,
            "resources": resources,
        }
        if report_name is not None:
            body["reportName"] = report_name
        if payload_descriptors is not None:
            body["payloadDescriptors"] = payload_descriptors
        result: dict[str, Any] = self._call("POST", "/reports", json=body)
        return result

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``path`` (e.g. ``/events``); answers the stored object."""
        result: dict[str, Any] = self._call("POST", path, json=body)
        return result

    def all(self, path: str, params: dict[str, str] | None = None) -> list[dict[str, Any]]:
        """Every object of ``path`` (e.g. ``/reports``) matching ``params``, page by page."""
        return self._all(path, params or {})

    def post_report(self, body: dict[str, Any]) -> dict[str, Any]:
        """Post a whole report body (e.g. from :mod:`suandian.api.openadr_dr`); answers the
        stored report."""
        result: dict[str, Any] = self._call("POST", "/reports", json=body)
        return result

    def reports(self, program_id: str | None = None) -> list[dict[str, Any]]:
        """This VEN's reports (of ``program_id`` if given)."""
        return self._all("/reports", {} if program_id is None else {"programID": program_id})

    def get_report(self, report_id: str) -> dict[str, Any]:
        """One of this VEN's reports; another VEN's or an unknown one raises NotFound."""
        result: dict[str, Any] = self._call("GET", f"/reports/{report_id}")
        return result

    def _all(self, path: str, params: dict[str, str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        while True:
            page = self._call("GET", path, params={**params, "skip": len(found), "limit": PAGE})
            found.extend(page)
            if len(page) < PAGE:
                return found


def _is_json(r: httpx2.Response) -> bool:
    return "json" in r.headers.get("content-type", "")
