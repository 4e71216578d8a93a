"""OpenADR 3 objects of the platform's VTN, its OAuth2 clients and their access tokens (SQL store).

Clients are created by a park admin with one role each: ``bl`` (the grid operator's business
logic: writes programs and events) or ``ven`` (a virtual end node: reads programs and events,
writes its own reports and ven objects). A client secret and an access token are random 256-bit
strings (:func:`secrets.token_urlsafe`) shown once; the store keeps only their SHA-256 digest, as
:mod:`suandian.store.platform` does for API tokens. Access tokens expire after
:data:`TOKEN_TTL_S`.

Programs, events, reports and vens share one table: each object is kept whole as the JSON the
VTN validated and answered, next to the columns it is looked up by (type, program, event, owner,
name). An event also keeps the platform's answer to it (``answer``), if any.
Tables come from the packaged migration ``0004_openadr``.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, get_args

from sqlalchemy import (
    Connection,
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from suandian.core.errors import InputError, NotFound
from suandian.ledger.tables import NAMING, UtcDateTime
from suandian.store.platform import hash_token

__all__ = [
    "CLIENT_ROLES",
    "OBJECT_TYPES",
    "TOKEN_TTL_S",
    "ClientRole",
    "IssuedClient",
    "NameTaken",
    "ObjectType",
    "OpenadrBase",
    "OpenadrClient",
    "OpenadrStore",
    "StoredObject",
]

ClientRole = Literal["bl", "ven"]
CLIENT_ROLES: Final[tuple[str, ...]] = get_args(ClientRole)
ObjectType = Literal["PROGRAM", "EVENT", "REPORT", "VEN"]
OBJECT_TYPES: Final[tuple[str, ...]] = get_args(ObjectType)
TOKEN_TTL_S: Final = 900
"""Lifetime of an access token: a client asks for a new one with its secret when it expires."""
TOKEN_PREFIX: Final = "oa_"
_ID_PREFIX: Final[dict[str, str]] = {
    "PROGRAM": "program",
    "EVENT": "event",
    "REPORT": "report",
    "VEN": "ven",
}


class NameTaken(InputError):
    """A programName or venName another object of the type has already."""


class OpenadrBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class ClientRow(OpenadrBase):
    __tablename__ = "openadr_clients"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    role: Mapped[str] = mapped_column(String(8))
    secret_digest: Mapped[str] = mapped_column(String(64))
    created_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class AccessTokenRow(OpenadrBase):
    __tablename__ = "openadr_tokens"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("openadr_clients.client_id"), index=True
    )
    expires_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class ObjectRow(OpenadrBase):
    __tablename__ = "openadr_objects"

    object_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    object_id: Mapped[str] = mapped_column(String(128), unique=True)
    object_type: Mapped[str] = mapped_column(String(16), index=True)
    program_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    event_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    owner: Mapped[str] = mapped_column(String(64), ForeignKey("openadr_clients.client_id"))
    """The client that created the object."""
    name: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    """programName, venName or a report's clientName."""
    body: Mapped[str] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    modified_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)


@dataclass(frozen=True)
class OpenadrClient:
    """Who calls the VTN: a client id and its role."""

    client_id: str
    role: ClientRole


@dataclass(frozen=True)
class IssuedClient:
    """A new client: ``client_secret`` is shown once and never stored."""

    client_id: str
    client_secret: str
    role: ClientRole


@dataclass(frozen=True)
class StoredObject:
    """One object as kept: the whole JSON body and who created it."""

    body: dict[str, Any]
    owner: str
    answer: dict[str, Any] | None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _stamp(t: dt.datetime) -> str:
    """The spec's dateTime: ISO 8601 in UTC with a ``Z``."""
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


class OpenadrStore:
    """Clients, access tokens and OpenADR objects in a migrated SQL database."""

    def __init__(self, engine: Engine, *, clock: Callable[[], dt.datetime] = _now) -> None:
        self._engine = engine
        self._clock = clock

    # --- clients and tokens -----------------------------------------------------------------

    def create_client(self, client_id: str, role: ClientRole) -> IssuedClient:
        """A new client with a random secret; an id already taken is refused."""
        if role not in CLIENT_ROLES:
            raise InputError(f"role: {role!r} is not an OpenADR client role; use bl or ven")
        secret = secrets.token_urlsafe(32)
        with self._engine.begin() as conn:
            taken = conn.execute(
                select(ClientRow.client_id).where(ClientRow.client_id == client_id)
            ).first()
            if taken is not None:
                raise InputError(f"client_id: {client_id!r} exists already; choose another id")
            conn.execute(
                insert(ClientRow).values(
                    client_id=client_id,
                    role=role,
                    secret_digest=hash_token(secret),
                    created_utc=self._clock(),
                )
            )
        return IssuedClient(client_id=client_id, client_secret=secret, role=role)

    def clients(self) -> list[dict[str, str]]:
        """Every client, without its secret."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(ClientRow).order_by(ClientRow.client_id)).all()
        return [
            {"client_id": r.client_id, "role": r.role, "created_utc": r.created_utc.isoformat()}
            for r in rows
        ]

    def issue_token(self, client_id: str, client_secret: str) -> str | None:
        """A new access token for the client, or None if id or secret is wrong."""
        with self._engine.begin() as conn:
            digest = conn.execute(
                select(ClientRow.secret_digest).where(ClientRow.client_id == client_id)
            ).scalar_one_or_none()
            if digest is None or not hmac.compare_digest(digest, hash_token(client_secret)):
                return None
            now = self._clock()
            # Expired tokens of this client are of no use any more.
            conn.execute(
                delete(AccessTokenRow).where(
                    AccessTokenRow.client_id == client_id, AccessTokenRow.expires_utc <= now
                )
            )
            token = TOKEN_PREFIX + secrets.token_urlsafe(32)
            conn.execute(
                insert(AccessTokenRow).values(
                    digest=hash_token(token),
                    client_id=client_id,
                    expires_utc=now + dt.timedelta(seconds=TOKEN_TTL_S),
                )
            )
        return token

    def authenticate(self, token: str) -> OpenadrClient | None:
        """The client holding an unexpired ``token``, or None."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        with self._engine.connect() as conn:
            row = conn.execute(
                select(ClientRow.client_id, ClientRow.role)
                .join(AccessTokenRow, AccessTokenRow.client_id == ClientRow.client_id)
                .where(
                    AccessTokenRow.digest == hash_token(token),
                    AccessTokenRow.expires_utc > self._clock(),
                )
            ).first()
        if row is None:
            return None
        return OpenadrClient(client_id=row.client_id, role=row.role)

    # --- objects ----------------------------------------------------------------------------

    def create(
        self,
        object_type: ObjectType,
        body: dict[str, Any],
        *,
        owner: str,
        program_id: str | None = None,
        event_id: str | None = None,
        name: str | None = None,
        unique_name: bool = False,
        answer: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """Store a new object; the VTN provisions id, timestamps and objectType.

        ``unique_name`` refuses a second object of the type with the same ``name``
        (:class:`InputError` naming the field); ``answer`` computes what the platform answers to
        the stored object (kept alongside).
        """
        now = self._clock()
        object_id = f"{_ID_PREFIX[object_type]}-{secrets.token_hex(8)}"
        full = {
            **body,
            "id": object_id,
            "createdDateTime": _stamp(now),
            "modificationDateTime": _stamp(now),
            "objectType": object_type,
        }
        reply = answer(full) if answer is not None else None
        with self._engine.begin() as conn:
            if unique_name:
                self._check_unique(conn, object_type, name, None)
            conn.execute(
                insert(ObjectRow).values(
                    object_id=object_id,
                    object_type=object_type,
                    program_id=program_id,
                    event_id=event_id,
                    owner=owner,
                    name=name,
                    body=json.dumps(full),
                    answer=None if reply is None else json.dumps(reply),
                    created_utc=now,
                    modified_utc=now,
                )
            )
        return full

    def _check_unique(
        self, conn: Connection, object_type: str, name: str | None, object_id: str | None
    ) -> None:
        query = select(ObjectRow.object_id).where(
            ObjectRow.object_type == object_type, ObjectRow.name == name
        )
        if object_id is not None:
            query = query.where(ObjectRow.object_id != object_id)
        if conn.execute(query).first() is not None:
            field = "programName" if object_type == "PROGRAM" else "venName"
            raise NameTaken(f"{field}: {name!r} is taken by another {object_type.lower()}")

    def get(self, object_type: ObjectType, object_id: str) -> StoredObject:
        """The object, or :class:`NotFound`."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(ObjectRow.body, ObjectRow.owner, ObjectRow.answer).where(
                    ObjectRow.object_type == object_type, ObjectRow.object_id == object_id
                )
            ).first()
        if row is None:
            raise NotFound(f"{object_type.lower()} {object_id}: not found")
        return StoredObject(
            body=json.loads(row.body),
            owner=row.owner,
            answer=None if row.answer is None else json.loads(row.answer),
        )

    def search(
        self,
        object_type: ObjectType,
        *,
        program_id: str | None = None,
        event_id: str | None = None,
        owner: str | None = None,
        name: str | None = None,
    ) -> list[dict[str, Any]]:
        """Objects of a type matching every filter given, oldest first."""
        query = select(ObjectRow.body).where(ObjectRow.object_type == object_type)
        if program_id is not None:
            query = query.where(ObjectRow.program_id == program_id)
        if event_id is not None:
            query = query.where(ObjectRow.event_id == event_id)
        if owner is not None:
            query = query.where(ObjectRow.owner == owner)
        if name is not None:
            query = query.where(ObjectRow.name == name)
        with self._engine.connect() as conn:
            bodies = conn.execute(query.order_by(ObjectRow.object_key)).scalars().all()
        return [json.loads(b) for b in bodies]

    def replace(
        self,
        object_type: ObjectType,
        object_id: str,
        body: dict[str, Any],
        *,
        program_id: str | None = None,
        event_id: str | None = None,
        name: str | None = None,
        unique_name: bool = False,
        answer: Callable[[dict[str, Any]], dict[str, Any] | None] | None = None,
    ) -> dict[str, Any]:
        """Replace an object's content, keeping its id, creation time and owner."""
        old = self.get(object_type, object_id).body
        now = self._clock()
        full = {
            **body,
            "id": object_id,
            "createdDateTime": old["createdDateTime"],
            "modificationDateTime": _stamp(now),
            "objectType": object_type,
        }
        reply = answer(full) if answer is not None else None
        with self._engine.begin() as conn:
            if unique_name:
                self._check_unique(conn, object_type, name, object_id)
            done = conn.execute(
                update(ObjectRow)
                .where(ObjectRow.object_type == object_type, ObjectRow.object_id == object_id)
                .values(
                    program_id=program_id,
                    event_id=event_id,
                    name=name,
                    body=json.dumps(full),
                    answer=None if reply is None else json.dumps(reply),
                    modified_utc=now,
                )
            ).rowcount
        if not done:
            raise NotFound(f"{object_type.lower()} {object_id}: not found")
        return full

    def remove(self, object_type: ObjectType, object_id: str) -> dict[str, Any]:
        """Delete an object; answers what it was."""
        old = self.get(object_type, object_id).body
        with self._engine.begin() as conn:
            conn.execute(
                delete(ObjectRow).where(
                    ObjectRow.object_type == object_type, ObjectRow.object_id == object_id
                )
            )
        return old

    def refers(self, object_type: ObjectType, field: str, object_id: str) -> int:
        """How many objects of ``object_type`` refer to ``object_id`` through ``field``."""
        column = ObjectRow.program_id if field == "programID" else ObjectRow.event_id
        with self._engine.connect() as conn:
            return len(
                conn.execute(
                    select(ObjectRow.object_key).where(
                        ObjectRow.object_type == object_type, column == object_id
                    )
                ).all()
            )
