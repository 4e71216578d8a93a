"""Who am I, and access management (park admins only): organisations and API tokens."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from suandian.api.context import Admin, Caller, PlatformDep
from suandian.core.errors import InputError
from suandian.store.platform import OrgKind, Role

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["access"])


class Me(BaseModel):
    user: str
    org: str
    role: str
    assets: list[str] = Field(description="Consumer assets a tenant sees (empty: park roles).")


class OrgIn(BaseModel):
    org: str = Field(description="Organisation id: 1–64 letters, digits, '.', '_' or '-'.")
    kind: OrgKind
    name: str | None = None
    assets: list[str] = Field(
        default_factory=list, description="Consumer asset ids of the scenario the tenant owns."
    )


class Org(BaseModel):
    org: str
    name: str
    kind: str
    assets: list[str]


class TokenIn(BaseModel):
    user: str
    org: str
    role: Role


class TokenOut(BaseModel):
    token: str = Field(description="Shown once; the store keeps only its SHA-256 digest.")
    user: str
    org: str
    role: str


class TokenInfo(BaseModel):
    token: str = Field(description="First characters only.")
    user: str
    org: str
    role: str
    created_utc: str
    revoked: bool


class RevokeIn(BaseModel):
    token: str


@router.get("/me", summary="The caller's user, organisation, role and assets")
def me(caller: Caller) -> Me:
    return Me(user=caller.user, org=caller.org, role=caller.role, assets=sorted(caller.assets))


@router.get("/admin/orgs", summary="Organisations and their assets")
def list_orgs(platform: PlatformDep, _: Admin) -> list[Org]:
    return [Org.model_validate(o) for o in platform.directory.orgs()]


@router.post("/admin/orgs", status_code=201, summary="Create an organisation or add assets")
def create_org(body: OrgIn, platform: PlatformDep, _: Admin) -> Org:
    known = {c.id for c in [*platform.park.data_centers, *platform.park.consumers]}
    unknown = sorted(set(body.assets) - known)
    if unknown:
        raise InputError(
            f"assets: {', '.join(unknown)} are not consumers of scenario {platform.park.name}; "
            f"use some of {', '.join(sorted(known))}"
        )
    platform.directory.ensure_org(body.org, kind=body.kind, name=body.name, assets=body.assets)
    return next(Org.model_validate(o) for o in platform.directory.orgs() if o["org"] == body.org)


@router.get("/admin/tokens", summary="Tokens, without their secrets")
def list_tokens(platform: PlatformDep, _: Admin) -> list[TokenInfo]:
    return [TokenInfo.model_validate(t) for t in platform.directory.tokens()]


@router.post("/admin/tokens", status_code=201, summary="Issue a token (shown once)")
def create_token(body: TokenIn, platform: PlatformDep, _: Admin) -> TokenOut:
    issued = platform.directory.create_token(user=body.user, org=body.org, role=body.role)
    return TokenOut(token=issued.token, user=issued.user, org=issued.org, role=issued.role)


@router.post("/admin/tokens/revoke", status_code=204, summary="Revoke a token")
def revoke_token(body: RevokeIn, platform: PlatformDep, _: Admin) -> None:
    platform.directory.revoke(body.token)
