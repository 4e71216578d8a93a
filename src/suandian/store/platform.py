"""Who may use the platform: organisations, their users, roles and API tokens (SQL store).

An organisation is either the park's operator (``kind="park"``) or a tenant (``kind="tenant"``),
such as an enterprise or the data center, that owns consumer assets of the scenario
(``platform_org_assets``): a tenant sees the meters, reports and certificates of those assets and
the compute jobs filed under its organisation id, and nothing else.

Users hold one role each:

``park_admin``
    everything, including organisations, users and tokens;
``operator``
    runs the park: ingests readings, plans jobs and dispatch, issues certificates;
``auditor``
    reads everything, changes nothing;
``tenant``
    reads its own organisation's data and submits its own jobs (only in a tenant organisation).

API tokens are random (256 bits, :func:`secrets.token_urlsafe`) and shown once; the store keeps
only their SHA-256 digest (a slow password hash buys nothing for a secret of that strength) and a
short prefix so that a token can be recognised in a list. Tables come from the packaged migration
``0003_platform``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

from sqlalchemy import (
    Engine,
    ForeignKey,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from suandian.core.errors import InputError, NotFound
from suandian.ledger.tables import NAMING, UtcDateTime
from suandian.store.roles import PARK_ROLES, ROLES, Role

__all__ = [
    "ROLES",
    "TOKEN_PREFIX",
    "IssuedToken",
    "OrgKind",
    "PlatformBase",
    "PlatformDirectory",
    "Principal",
    "Role",
    "hash_token",
]

OrgKind = Literal["park", "tenant"]
_ORG_KINDS: Final[tuple[str, ...]] = get_args(OrgKind)
_WRITE_ROLES: Final = ("park_admin", "operator")

TOKEN_PREFIX: Final = "sd_"
"""Every token starts with this, so that a leaked one is easy to search for."""
_SHOWN_CHARS: Final = 10
"""Characters of a token kept in clear to tell tokens apart (prefix included)."""
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def hash_token(token: str) -> str:
    """SHA-256 hex digest of ``token``: what the store keeps."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class PlatformBase(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class OrgRow(PlatformBase):
    __tablename__ = "platform_orgs"

    org_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    created_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class OrgAssetRow(PlatformBase):
    __tablename__ = "platform_org_assets"

    asset_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    """A consumer asset belongs to at most one organisation."""
    org_id: Mapped[str] = mapped_column(String(64), ForeignKey("platform_orgs.org_id"), index=True)


class UserRow(PlatformBase):
    __tablename__ = "platform_users"
    __table_args__ = (UniqueConstraint("name", name="uq_platform_users_name"),)

    user_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    org_id: Mapped[str] = mapped_column(String(64), ForeignKey("platform_orgs.org_id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class TokenRow(PlatformBase):
    __tablename__ = "platform_tokens"

    token_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    shown: Mapped[str] = mapped_column(String(16))
    user_key: Mapped[int] = mapped_column(
        Integer, ForeignKey("platform_users.user_key"), index=True
    )
    created_utc: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    revoked_utc: Mapped[dt.datetime | None] = mapped_column(UtcDateTime, nullable=True)


@dataclass(frozen=True)
class Principal:
    """Who is calling: user, organisation, role and, for a tenant, the assets it owns."""

    user: str
    org: str
    role: Role
    assets: frozenset[str] = frozenset()
    """Consumer asset ids of the tenant's organisation (empty for park roles)."""

    @property
    def sees_all(self) -> bool:
        """Park roles read every tenant's data."""
        return self.role in PARK_ROLES

    @property
    def can_operate(self) -> bool:
        """Park admins and operators change park-wide state."""
        return self.role in _WRITE_ROLES

    def owns_asset(self, asset_id: str | None) -> bool:
        """Whether this caller may see data of consumer ``asset_id``."""
        return self.sees_all or (asset_id is not None and asset_id in self.assets)

    def owns_tenant(self, tenant: str) -> bool:
        """Whether this caller may see jobs filed under ``tenant`` (an organisation id)."""
        return self.sees_all or tenant == self.org


@dataclass(frozen=True)
class IssuedToken:
    """A new token: ``token`` is shown once and never stored."""

    token: str
    user: str
    org: str
    role: Role


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _check_id(value: str, field: str) -> str:
    if not isinstance(value, str) or not _ID.match(value):
        raise InputError(
            f"{field}: {value!r} is not a valid id; use 1–64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


class PlatformDirectory:
    """Organisations, users and tokens in a migrated SQL database."""

    def __init__(self, engine: Engine, *, clock: Callable[[], dt.datetime] = _now) -> None:
        self._engine = engine
        self._clock = clock

    # --- organisations ----------------------------------------------------------------------

    def ensure_org(
        self, org_id: str, *, kind: OrgKind, name: str | None = None, assets: Sequence[str] = ()
    ) -> None:
        """Create organisation ``org_id`` or, if it exists with the same kind, add ``assets``.

        An asset already owned by another organisation is refused (one owner per asset), and so
        is changing an organisation's kind; nothing is written then.
        """
        _check_id(org_id, "org")
        if kind not in _ORG_KINDS:
            raise InputError(f"kind: {kind!r} is not an organisation kind; use park or tenant")
        if kind == "park" and assets:
            raise InputError(
                f"assets: the park organisation {org_id!r} sees every asset already; give "
                "assets only to tenant organisations"
            )
        for a in assets:
            _check_id(a, "asset")
        with self._engine.begin() as conn:
            row = conn.execute(select(OrgRow.kind).where(OrgRow.org_id == org_id)).first()
            if row is None:
                conn.execute(
                    insert(OrgRow).values(
                        org_id=org_id, name=name or org_id, kind=kind, created_utc=self._clock()
                    )
                )
            elif row.kind != kind:
                raise InputError(
                    f"org: {org_id!r} is a {row.kind} organisation, not a {kind} one; "
                    "choose another id"
                )
            owners = dict(
                conn.execute(
                    select(OrgAssetRow.asset_id, OrgAssetRow.org_id).where(
                        OrgAssetRow.asset_id.in_(list(assets))
                    )
                ).all()
            )
            taken = sorted(a for a, o in owners.items() if o != org_id)
            if taken:
                raise InputError(
                    f"assets: {', '.join(taken)} already belong to another organisation; "
                    "an asset has one owner"
                )
            new = [a for a in dict.fromkeys(assets) if a not in owners]
            if new:
                conn.execute(insert(OrgAssetRow), [{"asset_id": a, "org_id": org_id} for a in new])

    def orgs(self) -> list[dict[str, object]]:
        """Every organisation with its kind and assets, sorted by id."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(OrgRow).order_by(OrgRow.org_id)).all()
            owned: dict[str, list[str]] = {}
            for a, o in conn.execute(
                select(OrgAssetRow.asset_id, OrgAssetRow.org_id).order_by(OrgAssetRow.asset_id)
            ).all():
                owned.setdefault(o, []).append(a)
        return [
            {"org": r.org_id, "name": r.name, "kind": r.kind, "assets": owned.get(r.org_id, [])}
            for r in rows
        ]

    def assets_of(self, org_id: str) -> frozenset[str]:
        with self._engine.connect() as conn:
            return frozenset(
                conn.execute(
                    select(OrgAssetRow.asset_id).where(OrgAssetRow.org_id == org_id)
                ).scalars()
            )

    # --- users and tokens -------------------------------------------------------------------

    def create_token(self, *, user: str, org: str, role: Role) -> IssuedToken:
        """A new token for ``user`` (created in ``org`` with ``role`` if new).

        An existing user keeps its organisation and role; asking for another is refused, so a
        token never silently carries other rights than the ones asked for.
        """
        _check_id(user, "user")
        if role not in ROLES:
            raise InputError(f"role: {role!r} is not a role; use one of {', '.join(ROLES)}")
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self._engine.begin() as conn:
            org_row = conn.execute(select(OrgRow.kind).where(OrgRow.org_id == org)).first()
            if org_row is None:
                raise NotFound(
                    f"org: no organisation {org!r}; create it first (suandian admin create-org)"
                )
            if (org_row.kind == "tenant") != (role == "tenant"):
                raise InputError(
                    f"role: a {org_row.kind} organisation's users cannot be {role}; tenant "
                    "organisations have tenant users, the park has park_admin, operator and "
                    "auditor users"
                )
            found = conn.execute(
                select(UserRow.user_key, UserRow.org_id, UserRow.role).where(UserRow.name == user)
            ).first()
            if found is None:
                try:
                    user_key = conn.execute(
                        insert(UserRow)
                        .values(name=user, org_id=org, role=role, created_utc=self._clock())
                        .returning(UserRow.user_key)
                    ).scalar_one()
                except IntegrityError:
                    raise InputError(
                        f"user: {user!r} was created at the same moment by another call; retry"
                    ) from None
            elif (found.org_id, found.role) != (org, role):
                raise InputError(
                    f"user: {user!r} exists as {found.role} of {found.org_id!r}; ask for a token "
                    "with that organisation and role, or choose another user name"
                )
            else:
                user_key = found.user_key
            conn.execute(
                insert(TokenRow).values(
                    digest=hash_token(token),
                    shown=token[:_SHOWN_CHARS],
                    user_key=user_key,
                    created_utc=self._clock(),
                )
            )
        return IssuedToken(token=token, user=user, org=org, role=role)

    def authenticate(self, token: str) -> Principal | None:
        """The principal holding ``token``, or None for an unknown or revoked token."""
        if not token.startswith(TOKEN_PREFIX):
            return None
        with self._engine.connect() as conn:
            row = conn.execute(
                select(UserRow.name, UserRow.org_id, UserRow.role)
                .join(TokenRow, TokenRow.user_key == UserRow.user_key)
                .where(TokenRow.digest == hash_token(token), TokenRow.revoked_utc.is_(None))
            ).first()
            if row is None:
                return None
            assets: frozenset[str] = frozenset()
            if row.role == "tenant":
                assets = frozenset(
                    conn.execute(
                        select(OrgAssetRow.asset_id).where(OrgAssetRow.org_id == row.org_id)
                    ).scalars()
                )
        return Principal(user=row.name, org=row.org_id, role=row.role, assets=assets)

    def tokens(self) -> list[dict[str, object]]:
        """Every token, without its secret: shown prefix, user, organisation, role, state."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(
                    TokenRow.shown,
                    TokenRow.created_utc,
                    TokenRow.revoked_utc,
                    UserRow.name,
                    UserRow.org_id,
                    UserRow.role,
                )
                .join(UserRow, TokenRow.user_key == UserRow.user_key)
                .order_by(TokenRow.token_key)
            ).all()
        return [
            {
                "token": f"{r.shown}…",
                "user": r.name,
                "org": r.org_id,
                "role": r.role,
                "created_utc": r.created_utc.isoformat(),
                "revoked": r.revoked_utc is not None,
            }
            for r in rows
        ]

    def revoke(self, token: str) -> None:
        """Revoke ``token`` (given whole); unknown tokens raise :class:`NotFound`."""
        with self._engine.begin() as conn:
            done = conn.execute(
                update(TokenRow)
                .where(TokenRow.digest == hash_token(token), TokenRow.revoked_utc.is_(None))
                .values(revoked_utc=self._clock())
            ).rowcount
        if not done:
            raise NotFound("token: no such active token; it may be revoked already")
