"""The platform as an OpenADR 3 VTN (a subset of OpenADR 3.0.1, see docs/openadr.md).

Under ``/openadr3``: ``POST /auth/token`` (OAuth2 client credentials) and programs, events,
reports and vens with the specification's field names, query parameters and problem responses
(``application/problem+json``). Clients are created by a park admin through
``POST /v1/admin/openadr-clients`` with one role: ``bl`` (the grid operator's business logic)
writes programs and events; ``ven`` reads programs and events and writes its own reports and
ven objects, and sees only those of its own.

Every event the VTN accepts is answered by :func:`on_event`; the answer is kept with the event.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security import OAuth2
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
)
from starlette.exceptions import HTTPException as StarletteHTTPException

from suandian.api.context import Admin, ApiError, PlatformDep
from suandian.core.errors import InputError, NotFound, SuandianError
from suandian.store.openadr import (
    TOKEN_TTL_S,
    ClientRole,
    NameTaken,
    ObjectType,
    OpenadrClient,
    OpenadrStore,
)

__all__ = ["SUPPORTED_PAYLOAD_TYPES", "on_event", "router"]

PREFIX: Final = "/openadr3"
SUPPORTED_PAYLOAD_TYPES: Final[frozenset[str]] = frozenset(
    {
        "SIMPLE",
        "PRICE",
        "EXPORT_PRICE",
        "GHG",
        "IMPORT_CAPACITY_LIMIT",
        "EXPORT_CAPACITY_LIMIT",
        "DISPATCH_SETPOINT",
        "DISPATCH_SETPOINT_RELATIVE",
        "PENALTY_PRICE",
    }
)
"""Event payload types the VTN accepts; any other answers 400.

``PENALTY_PRICE`` is private (the specification allows private payload type strings): the
penalty per kWh committed and not delivered, in the descriptor's currency.
"""
_NON_NEGATIVE: Final = frozenset(
    {"IMPORT_CAPACITY_LIMIT", "EXPORT_CAPACITY_LIMIT", "PENALTY_PRICE"}
)
_INT32_MAX: Final = 2**31 - 1
_YEARS: Final = (1970, 2200)
"""Years an interval may start in."""


def on_event(event: dict[str, Any]) -> dict[str, Any] | None:
    """The platform's answer to an event it accepted (kept alongside the event), or None.

    ``event`` is the stored event object (spec field names, VTN-provisioned fields included).
    Deciding whether and how the park takes part belongs to the virtual power plant; until it
    does, there is no answer.
    """
    del event
    return None


# --- the specification's objects -----------------------------------------------------------

_DURATION = re.compile(
    r"^(-?)P(?=\d|T\d)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)([DW]))?"
    r"(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$"
)
_DURATION_PATTERN: Final = _DURATION.pattern


def duration_seconds(text: str) -> float:
    """Seconds of an ISO 8601 duration (a year counted as 365 days, a month as 30)."""
    m = _DURATION.match(text)
    if m is None:
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT1H or P1D")
    sign, years, months, days, unit, hours, minutes, seconds = m.groups()
    total = (
        int(years or 0) * 365 * 86400
        + int(months or 0) * 30 * 86400
        + int(days or 0) * (7 if unit == "W" else 1) * 86400
        + int(hours or 0) * 3600
        + int(minutes or 0) * 60
        + float(seconds or 0)
    )
    return -total if sign else total


def _check_duration(text: str) -> str:
    duration_seconds(text)
    return text


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    Field(
        max_length=64,
        description="ISO 8601 duration, e.g. PT1H.",
        json_schema_extra={"pattern": _DURATION_PATTERN},
    ),
]
ObjectID = Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]*$", min_length=1, max_length=128)]
Name = Annotated[str, Field(min_length=1, max_length=128)]
Int32 = Annotated[int, Field(ge=-(2**31), le=_INT32_MAX)]


class OadrModel(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class Point(OadrModel):
    x: float
    y: float


class ValuesMap(OadrModel):
    type: Name
    values: list[StrictBool | StrictInt | float | Annotated[str, Field(max_length=4096)] | Point]


class IntervalPeriod(OadrModel):
    start: AwareDatetime
    duration: Duration | None = None
    randomizeStart: Duration | None = None


class Interval(OadrModel):
    id: Int32
    intervalPeriod: IntervalPeriod | None = None
    payloads: list[ValuesMap]


class EventPayloadDescriptor(OadrModel):
    objectType: Literal["EVENT_PAYLOAD_DESCRIPTOR"] = "EVENT_PAYLOAD_DESCRIPTOR"
    payloadType: Name
    units: str | None = None
    currency: str | None = None


class ReportPayloadDescriptor(OadrModel):
    objectType: Literal["REPORT_PAYLOAD_DESCRIPTOR"] = "REPORT_PAYLOAD_DESCRIPTOR"
    payloadType: Name
    readingType: str | None = None
    units: str | None = None
    accuracy: float | None = None
    confidence: Annotated[int, Field(ge=0, le=100)] | None = None


class ReportDescriptor(OadrModel):
    payloadType: Name
    readingType: str | None = None
    units: str | None = None
    targets: list[ValuesMap] | None = None
    aggregate: bool = False
    startInterval: Int32 = -1
    numIntervals: Int32 = -1
    historical: bool = True
    frequency: Int32 = -1
    repeat: Int32 = 1


class ProgramDescription(OadrModel):
    URL: Annotated[str, Field(min_length=1, max_length=2048)]


class Provisioned(OadrModel):
    """Fields the VTN provisions: ignored in requests, always present in answers."""

    id: ObjectID | None = None
    createdDateTime: AwareDatetime | None = None
    modificationDateTime: AwareDatetime | None = None


_PROVISIONED: Final = {"id", "createdDateTime", "modificationDateTime", "objectType"}


class Program(Provisioned):
    objectType: Literal["PROGRAM"] | None = None
    programName: Name
    programLongName: str | None = None
    retailerName: str | None = None
    retailerLongName: str | None = None
    programType: str | None = None
    country: str | None = None
    principalSubdivision: str | None = None
    timeZoneOffset: Duration | None = None
    intervalPeriod: IntervalPeriod | None = None
    programDescriptions: list[ProgramDescription] | None = None
    bindingEvents: bool | None = None
    localPrice: bool | None = None
    payloadDescriptors: list[EventPayloadDescriptor | ReportPayloadDescriptor] | None = None
    targets: list[ValuesMap] | None = None


class Event(Provisioned):
    objectType: Literal["EVENT"] | None = None
    programID: ObjectID
    eventName: str | None = None
    priority: Annotated[int, Field(ge=0, le=_INT32_MAX)] | None = None
    targets: list[ValuesMap] | None = None
    reportDescriptors: list[ReportDescriptor] | None = None
    payloadDescriptors: list[EventPayloadDescriptor] | None = None
    intervalPeriod: IntervalPeriod | None = None
    intervals: list[Interval]


class ReportResource(OadrModel):
    resourceName: Name
    intervalPeriod: IntervalPeriod | None = None
    intervals: list[Interval]


class Report(Provisioned):
    objectType: Literal["REPORT"] | None = None
    programID: ObjectID
    eventID: ObjectID
    clientName: Name
    reportName: str | None = None
    payloadDescriptors: list[ReportPayloadDescriptor] | None = None
    resources: list[ReportResource]


class Ven(Provisioned):
    objectType: Literal["VEN"] | None = None
    venName: Name
    attributes: list[ValuesMap] | None = None
    targets: list[ValuesMap] | None = None


class Problem(BaseModel):
    """RFC 7807 problem, as the specification's ``problem`` schema."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    instance: str | None = None


class TokenResponse(BaseModel):
    access_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int


class AuthError(BaseModel):
    error: Literal[
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "invalid_scope",
        "unauthorized_client",
        "unsupported_grant_type",
    ]
    error_description: str


# --- problems -------------------------------------------------------------------------------

_TITLES: Final = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


class Conflict(SuandianError):
    """A write the VTN's current objects do not allow (409)."""


def _problem(
    request: Request, status: int, detail: str, headers: dict[str, str] | None = None
) -> Response:
    body = Problem(
        title=_TITLES.get(status, "Error"), status=status, detail=detail, instance=request.url.path
    )
    return JSONResponse(
        body.model_dump(),
        status_code=status,
        media_type="application/problem+json",
        headers=headers,
    )


def _status_of(exc: SuandianError) -> int:
    if isinstance(exc, NameTaken | Conflict):
        return 409
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, NotFound):
        return 404
    return 503


def _describe(errors: Any) -> str:
    parts = []
    for e in errors:
        where = ""
        for p in e.get("loc", ()):
            if isinstance(p, int):
                where += f"[{p}]"
            elif p not in ("body", "query", "path", "form"):
                where += f".{p}" if where else str(p)
        where = where or "request"
        parts.append(f"{where}: {e.get('msg', 'invalid')}")
    return "; ".join(parts[:10]) or "invalid request"


class ProblemRoute(APIRoute):
    """A route whose every error answers as an RFC 7807 problem (``application/problem+json``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def problem_handler(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _problem(request, 400, _describe(exc.errors()))
            except ApiError as exc:
                return _problem(request, exc.status, exc.detail, exc.headers)
            except SuandianError as exc:
                return _problem(request, _status_of(exc), str(exc))
            except StarletteHTTPException as exc:
                return _problem(request, exc.status_code, str(exc.detail))

        return problem_handler


def _problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    schema = Problem.model_json_schema()
    return {
        code: {
            "description": _TITLES[code],
            "content": {"application/problem+json": {"schema": schema}},
        }
        for code in codes
    }


# --- who calls ------------------------------------------------------------------------------

_oauth2 = OAuth2(
    flows=OAuthFlows(clientCredentials=OAuthFlowClientCredentials(tokenUrl=f"{PREFIX}/auth/token")),
    scheme_name="oAuth2ClientCredentials",
    description="An access token from POST /openadr3/auth/token (client credentials).",
    auto_error=False,
)


def _store(platform: PlatformDep) -> OpenadrStore:
    return OpenadrStore(platform.engine)


Store = Annotated[OpenadrStore, Depends(_store)]


def vtn_client(
    request: Request,
    platform: PlatformDep,
    store: Store,
    authorization: Annotated[str | None, Depends(_oauth2)],
) -> OpenadrClient:
    """The client holding the request's access token; 401 without a valid one."""
    host = request.client.host if request.client else "unknown"
    retry_s = platform.limiter.blocked_for(host)
    if retry_s > 0:
        raise ApiError(
            429,
            f"too many failed authentications from {host}; retry in {retry_s} s",
            headers={"Retry-After": str(retry_s)},
        )
    client = None
    if authorization:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() == "bearer" and token:
            client = store.authenticate(token.strip())
    if client is None:
        platform.limiter.failed(host)
        platform.metrics.auth_failures.inc()
        raise ApiError(
            401,
            "missing, invalid or expired access token; get one from POST /openadr3/auth/token "
            "and send 'Authorization: Bearer <access_token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return client


Client = Annotated[OpenadrClient, Depends(vtn_client)]


def _require(client: OpenadrClient, role: ClientRole, action: str) -> None:
    if client.role != role:
        raise ApiError(403, f"a {client.role} client cannot {action}; only {role} clients can")


# --- validation -----------------------------------------------------------------------------


def _check_period(period: IntervalPeriod | None, path: str) -> float | None:
    """The period's duration in seconds (None if it has none); bad periods raise InputError."""
    if period is None:
        return None
    if not _YEARS[0] <= period.start.year <= _YEARS[1]:
        raise InputError(
            f"{path}.start: {period.start.isoformat()} is out of range; start between "
            f"{_YEARS[0]} and {_YEARS[1]}"
        )
    if period.randomizeStart is not None and duration_seconds(period.randomizeStart) < 0:
        raise InputError(f"{path}.randomizeStart: {period.randomizeStart} is negative")
    if period.duration is None:
        return None
    seconds = duration_seconds(period.duration)
    if seconds <= 0:
        raise InputError(f"{path}.duration: {period.duration} is not positive; give e.g. PT1H")
    return seconds


def _check_payload(payload: ValuesMap, path: str) -> None:
    if payload.type not in SUPPORTED_PAYLOAD_TYPES:
        raise InputError(
            f"{path}.type: {payload.type!r} is not a supported payload type; use one of "
            f"{', '.join(sorted(SUPPORTED_PAYLOAD_TYPES))}"
        )
    if not payload.values:
        raise InputError(f"{path}.values: empty; give at least one value")
    for k, v in enumerate(payload.values):
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise InputError(f"{path}.values[{k}]: {v!r} is not a number ({payload.type})")
        if payload.type == "SIMPLE" and (not isinstance(v, int) or not 0 <= v <= 3):
            raise InputError(f"{path}.values[{k}]: SIMPLE levels are integers 0 to 3, got {v!r}")
        if payload.type in _NON_NEGATIVE and v < 0:
            raise InputError(f"{path}.values[{k}]: a {payload.type} is not negative, got {v!r}")


def _check_program_exists(store: OpenadrStore, program_id: str) -> None:
    try:
        store.get("PROGRAM", program_id)
    except NotFound:
        raise InputError(f"programID: no program {program_id}; create it first") from None


def check_event(event: Event, store: OpenadrStore) -> None:
    """The VTN's rules for an event beyond its shape; a broken rule raises InputError (400)."""
    _check_program_exists(store, event.programID)
    default = _check_period(event.intervalPeriod, "intervalPeriod")
    if not event.intervals:
        raise InputError("intervals: empty; an event has at least one interval")
    for d, descriptor in enumerate(event.payloadDescriptors or []):
        if descriptor.payloadType not in SUPPORTED_PAYLOAD_TYPES:
            raise InputError(
                f"payloadDescriptors[{d}].payloadType: {descriptor.payloadType!r} is not a "
                f"supported payload type; use one of {', '.join(sorted(SUPPORTED_PAYLOAD_TYPES))}"
            )
    for i, interval in enumerate(event.intervals):
        path = f"intervals[{i}]"
        if interval.intervalPeriod is None and event.intervalPeriod is None:
            raise InputError(
                f"{path}.intervalPeriod: missing; give the event or each interval an "
                "intervalPeriod with start and duration"
            )
        own = _check_period(interval.intervalPeriod, f"{path}.intervalPeriod")
        if own is None and default is None:
            raise InputError(
                f"{path}.intervalPeriod.duration: missing; give the event's or the interval's "
                "intervalPeriod a duration such as PT1H"
            )
        if not interval.payloads:
            raise InputError(f"{path}.payloads: empty; give at least one payload")
        for j, payload in enumerate(interval.payloads):
            _check_payload(payload, f"{path}.payloads[{j}]")


def check_report(report: Report, store: OpenadrStore) -> None:
    """A report names an existing event of an existing program."""
    _check_program_exists(store, report.programID)
    try:
        event = store.get("EVENT", report.eventID).body
    except NotFound:
        raise InputError(f"eventID: no event {report.eventID}") from None
    if event["programID"] != report.programID:
        raise InputError(
            f"eventID: event {report.eventID} belongs to program {event['programID']}, "
            f"not {report.programID}"
        )
    for r, resource in enumerate(report.resources):
        _check_period(resource.intervalPeriod, f"resources[{r}].intervalPeriod")
        for i, interval in enumerate(resource.intervals):
            _check_period(interval.intervalPeriod, f"resources[{r}].intervals[{i}].intervalPeriod")


# --- the VTN --------------------------------------------------------------------------------

vtn = APIRouter(prefix=PREFIX, tags=["openadr3"], route_class=ProblemRoute)

Skip = Annotated[int, Query(ge=0, le=_INT32_MAX, description="Records to skip.")]
Limit = Annotated[int, Query(ge=0, le=50, description="Records to return at most.")]
TargetType = Annotated[str | None, Query(max_length=128, description="Targeting type, e.g. GROUP.")]
TargetValues = Annotated[
    list[str] | None, Query(max_length=50, description="Target values, e.g. group names.")
]
ProgramIDQuery = Annotated[
    str | None, Query(pattern=r"^[a-zA-Z0-9_-]*$", min_length=1, max_length=128)
]


def _path_id(what: str) -> Any:
    return Path(
        pattern=r"^[a-zA-Z0-9_-]*$",
        min_length=1,
        max_length=128,
        description=f"Object ID of the {what}.",
    )


ProgramID = Annotated[str, _path_id("program")]
EventID = Annotated[str, _path_id("event")]
ReportID = Annotated[str, _path_id("report")]
VenID = Annotated[str, _path_id("ven")]


def _targeted(body: dict[str, Any], target_type: str | None, values: list[str] | None) -> bool:
    if target_type is None and not values:
        return True
    wanted = set(values or [])
    for target in body.get("targets") or []:
        if target_type is not None and target.get("type") != target_type:
            continue
        if not wanted or wanted & {str(v) for v in target.get("values", [])}:
            return True
    return False


def _page(
    bodies: list[dict[str, Any]],
    skip: int,
    limit: int,
    target_type: str | None = None,
    values: list[str] | None = None,
) -> list[dict[str, Any]]:
    return [b for b in bodies if _targeted(b, target_type, values)][skip : skip + limit]


def _content(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json", exclude=_PROVISIONED)


_READ: Final = _problems(400, 401, 403)
_ONE: Final = _problems(400, 401, 403, 404)
_WRITE: Final = _problems(400, 401, 403, 409)
_WRITE_ONE: Final = _problems(400, 401, 403, 404, 409)


@vtn.post(
    "/auth/token",
    summary="Fetch an access token (OAuth2 client credentials)",
    response_model=TokenResponse,
    responses={400: {"model": AuthError}, 401: {"model": AuthError}},
)
def fetch_token(
    request: Request,
    platform: PlatformDep,
    store: Store,
    grant_type: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    scope: Annotated[str | None, Form()] = None,
) -> Any:
    del scope  # every client's rights follow from its role
    if any(len(v or "") > 4096 for v in (grant_type, client_id, client_secret)):
        return JSONResponse(
            {"error": "invalid_request", "error_description": "a parameter exceeds 4096 chars"},
            status_code=400,
        )
    if not grant_type or not client_id or not client_secret:
        missing = [
            name
            for name, v in (
                ("grant_type", grant_type),
                ("client_id", client_id),
                ("client_secret", client_secret),
            )
            if not v
        ]
        return JSONResponse(
            {
                "error": "invalid_request",
                "error_description": f"missing {', '.join(missing)}; send them form-encoded",
            },
            status_code=400,
        )
    if grant_type != "client_credentials":
        return JSONResponse(
            {
                "error": "unsupported_grant_type",
                "error_description": f"grant_type {grant_type!r}: use client_credentials",
            },
            status_code=400,
        )
    host = request.client.host if request.client else "unknown"
    retry_s = platform.limiter.blocked_for(host)
    token = None if retry_s > 0 else store.issue_token(client_id, client_secret)
    if token is None:
        if retry_s <= 0:
            platform.limiter.failed(host)
            platform.metrics.auth_failures.inc()
        return JSONResponse(
            {
                "error": "invalid_client",
                "error_description": "unknown client_id or wrong client_secret"
                + (f"; too many failures, retry in {retry_s} s" if retry_s > 0 else ""),
            },
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )
    return TokenResponse(access_token=token, expires_in=TOKEN_TTL_S)


# programs


@vtn.get("/programs", summary="Search all programs", responses=_READ)
def search_programs(
    client: Client,
    store: Store,
    targetType: TargetType = None,
    targetValues: TargetValues = None,
    skip: Skip = 0,
    limit: Limit = 50,
) -> list[Program]:
    del client
    bodies = _page(store.search("PROGRAM"), skip, limit, targetType, targetValues)
    return [Program.model_validate(b) for b in bodies]


@vtn.post("/programs", status_code=201, summary="Create a program", responses=_WRITE)
def create_program(body: Program, client: Client, store: Store) -> Program:
    _require(client, "bl", "write programs")
    _check_period(body.intervalPeriod, "intervalPeriod")
    stored = store.create(
        "PROGRAM",
        _content(body),
        owner=client.client_id,
        name=body.programName,
        unique_name=True,
    )
    return Program.model_validate(stored)


@vtn.get("/programs/{programID}", summary="The program of an ID", responses=_ONE)
def get_program(programID: ProgramID, client: Client, store: Store) -> Program:
    del client
    return Program.model_validate(store.get("PROGRAM", programID).body)


@vtn.put("/programs/{programID}", summary="Update a program", responses=_WRITE_ONE)
def update_program(programID: ProgramID, body: Program, client: Client, store: Store) -> Program:
    _require(client, "bl", "write programs")
    store.get("PROGRAM", programID)
    _check_period(body.intervalPeriod, "intervalPeriod")
    stored = store.replace(
        "PROGRAM", programID, _content(body), name=body.programName, unique_name=True
    )
    return Program.model_validate(stored)


@vtn.delete("/programs/{programID}", summary="Delete a program", responses=_WRITE_ONE)
def delete_program(programID: ProgramID, client: Client, store: Store) -> Program:
    _require(client, "bl", "write programs")
    store.get("PROGRAM", programID)
    if store.refers("EVENT", "programID", programID) or store.refers(
        "REPORT", "programID", programID
    ):
        raise Conflict(f"program {programID} has events or reports; delete them first")
    return Program.model_validate(store.remove("PROGRAM", programID))


# events


def _answer(event: dict[str, Any]) -> dict[str, Any] | None:
    return on_event(event)


@vtn.get("/events", summary="Search all events", responses=_READ)
def search_events(
    client: Client,
    store: Store,
    programID: ProgramIDQuery = None,
    targetType: TargetType = None,
    targetValues: TargetValues = None,
    skip: Skip = 0,
    limit: Limit = 50,
) -> list[Event]:
    del client
    bodies = _page(
        store.search("EVENT", program_id=programID), skip, limit, targetType, targetValues
    )
    return [Event.model_validate(b) for b in bodies]


@vtn.post("/events", status_code=201, summary="Create an event", responses=_WRITE)
def create_event(body: Event, client: Client, store: Store) -> Event:
    _require(client, "bl", "write events")
    check_event(body, store)
    stored = store.create(
        "EVENT",
        _content(body),
        owner=client.client_id,
        program_id=body.programID,
        name=body.eventName,
        answer=_answer,
    )
    return Event.model_validate(stored)


@vtn.get("/events/{eventID}", summary="The event of an ID", responses=_ONE)
def get_event(eventID: EventID, client: Client, store: Store) -> Event:
    del client
    return Event.model_validate(store.get("EVENT", eventID).body)


@vtn.put("/events/{eventID}", summary="Update an event", responses=_WRITE_ONE)
def update_event(eventID: EventID, body: Event, client: Client, store: Store) -> Event:
    _require(client, "bl", "write events")
    store.get("EVENT", eventID)
    check_event(body, store)
    stored = store.replace(
        "EVENT",
        eventID,
        _content(body),
        program_id=body.programID,
        name=body.eventName,
        answer=_answer,
    )
    return Event.model_validate(stored)


@vtn.delete("/events/{eventID}", summary="Delete an event", responses=_WRITE_ONE)
def delete_event(eventID: EventID, client: Client, store: Store) -> Event:
    _require(client, "bl", "write events")
    store.get("EVENT", eventID)
    if store.refers("REPORT", "eventID", eventID):
        raise Conflict(f"event {eventID} has reports; delete them first")
    return Event.model_validate(store.remove("EVENT", eventID))


# reports and vens: a VEN sees only its own


def _own(store: OpenadrStore, kind: ObjectType, object_id: str, client: OpenadrClient) -> Any:
    """The object if ``client`` may see it; another VEN's answers 404 as an unknown one."""
    found = store.get(kind, object_id)
    if client.role == "ven" and found.owner != client.client_id:
        raise NotFound(f"{kind.lower()} {object_id}: not found")
    return found.body


@vtn.get("/reports", summary="Search all reports", responses=_READ)
def search_reports(
    client: Client,
    store: Store,
    programID: ProgramIDQuery = None,
    eventID: ProgramIDQuery = None,
    clientName: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    skip: Skip = 0,
    limit: Limit = 50,
) -> list[Report]:
    owner = client.client_id if client.role == "ven" else None
    bodies = store.search(
        "REPORT", program_id=programID, event_id=eventID, owner=owner, name=clientName
    )
    return [Report.model_validate(b) for b in _page(bodies, skip, limit)]


@vtn.post("/reports", status_code=201, summary="Add a report", responses=_WRITE)
def create_report(body: Report, client: Client, store: Store) -> Report:
    _require(client, "ven", "write reports")
    check_report(body, store)
    stored = store.create(
        "REPORT",
        _content(body),
        owner=client.client_id,
        program_id=body.programID,
        event_id=body.eventID,
        name=body.clientName,
    )
    return Report.model_validate(stored)


@vtn.get("/reports/{reportID}", summary="The report of an ID", responses=_ONE)
def get_report(reportID: ReportID, client: Client, store: Store) -> Report:
    return Report.model_validate(_own(store, "REPORT", reportID, client))


@vtn.put("/reports/{reportID}", summary="Update a report", responses=_WRITE_ONE)
def update_report(reportID: ReportID, body: Report, client: Client, store: Store) -> Report:
    _require(client, "ven", "write reports")
    _own(store, "REPORT", reportID, client)
    check_report(body, store)
    stored = store.replace(
        "REPORT",
        reportID,
        _content(body),
        program_id=body.programID,
        event_id=body.eventID,
        name=body.clientName,
    )
    return Report.model_validate(stored)


@vtn.delete("/reports/{reportID}", summary="Delete a report", responses=_WRITE_ONE)
def delete_report(reportID: ReportID, client: Client, store: Store) -> Report:
    _require(client, "ven", "write reports")
    _own(store, "REPORT", reportID, client)
    return Report.model_validate(store.remove("REPORT", reportID))


@vtn.get("/vens", summary="Search vens", responses=_READ)
def search_vens(
    client: Client,
    store: Store,
    venName: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    targetType: TargetType = None,
    targetValues: TargetValues = None,
    skip: Skip = 0,
    limit: Limit = 50,
) -> list[Ven]:
    owner = client.client_id if client.role == "ven" else None
    bodies = store.search("VEN", owner=owner, name=venName)
    return [Ven.model_validate(b) for b in _page(bodies, skip, limit, targetType, targetValues)]


@vtn.post("/vens", status_code=201, summary="Create a ven", responses=_WRITE)
def create_ven(body: Ven, client: Client, store: Store) -> Ven:
    stored = store.create(
        "VEN", _content(body), owner=client.client_id, name=body.venName, unique_name=True
    )
    return Ven.model_validate(stored)


@vtn.get("/vens/{venID}", summary="The ven of an ID", responses=_ONE)
def get_ven(venID: VenID, client: Client, store: Store) -> Ven:
    return Ven.model_validate(_own(store, "VEN", venID, client))


@vtn.put("/vens/{venID}", summary="Update a ven", responses=_WRITE_ONE)
def update_ven(venID: VenID, body: Ven, client: Client, store: Store) -> Ven:
    _own(store, "VEN", venID, client)
    stored = store.replace("VEN", venID, _content(body), name=body.venName, unique_name=True)
    return Ven.model_validate(stored)


@vtn.delete("/vens/{venID}", summary="Delete a ven", responses=_WRITE_ONE)
def delete_ven(venID: VenID, client: Client, store: Store) -> Ven:
    _own(store, "VEN", venID, client)
    return Ven.model_validate(store.remove("VEN", venID))


# --- clients, managed by park admins --------------------------------------------------------

admin = APIRouter(prefix="/v1/admin", tags=["access"])


class OpenadrClientIn(BaseModel):
    client_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    role: ClientRole = Field(description="bl: posts programs and events; ven: a VEN.")


class OpenadrClientOut(BaseModel):
    client_id: str
    client_secret: str = Field(description="Shown once; the store keeps only its SHA-256 digest.")
    role: str


class OpenadrClientInfo(BaseModel):
    client_id: str
    role: str
    created_utc: str


@admin.post(
    "/openadr-clients", status_code=201, summary="Create an OpenADR client (secret shown once)"
)
def create_openadr_client(body: OpenadrClientIn, store: Store, _: Admin) -> OpenadrClientOut:
    issued = store.create_client(body.client_id, body.role)
    return OpenadrClientOut(
        client_id=issued.client_id, client_secret=issued.client_secret, role=issued.role
    )


@admin.get("/openadr-clients", summary="OpenADR clients, without their secrets")
def list_openadr_clients(store: Store, _: Admin) -> list[OpenadrClientInfo]:
    return [OpenadrClientInfo.model_validate(c) for c in store.clients()]


router = APIRouter()
router.include_router(vtn)
router.include_router(admin)
