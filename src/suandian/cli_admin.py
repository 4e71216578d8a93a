"""``suandian admin``: organisations and API tokens of the platform service.

The first token of a new installation comes from here (``suandian admin create-token``, a park
admin of the organisation ``park`` by default); there is no default secret anywhere. A token is
printed once; the store keeps only its SHA-256 digest.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from suandian.core.errors import InputError
from suandian.settings import Settings
from suandian.store.roles import PARK_ROLES, ROLES

if TYPE_CHECKING:
    from suandian.store.platform import PlatformDirectory

__all__ = ["admin_app"]

admin_app = typer.Typer(
    help="Platform access: organisations, users and API tokens.", no_args_is_help=True
)
out = Console(markup=False)
err = Console(stderr=True, markup=False)


def _directory() -> PlatformDirectory:
    # The SQL layer loads when a command runs, so that the command line starts fast.
    from suandian.store.sql import database_url, open_platform

    return open_platform(database_url(Settings()))


@admin_app.command("create-org")
def create_org(
    org: Annotated[str | None, typer.Argument(help="Organisation id.")] = None,
    kind: Annotated[str, typer.Option(help="tenant or park.")] = "tenant",
    name: Annotated[str | None, typer.Option(help="Display name (default: the id).")] = None,
    asset: Annotated[
        list[str] | None,
        typer.Option("--asset", help="Consumer asset id the tenant owns (repeatable)."),
    ] = None,
    from_scenario: Annotated[
        str | None,
        typer.Option(
            "--from-scenario",
            help="One tenant organisation per data center and enterprise of this scenario, "
            "named after the consumer and owning it.",
        ),
    ] = None,
) -> None:
    """Create an organisation, or add assets to an existing one."""
    if kind not in ("tenant", "park"):
        raise typer.BadParameter(f"{kind!r}; use tenant or park", param_hint="--kind")
    directory = _directory()
    if from_scenario is not None:
        if org is not None or asset:
            raise InputError("--from-scenario creates one organisation per consumer; give no ORG")
        from suandian.scenario import load_scenario

        park = load_scenario(from_scenario)
        for consumer in [*park.data_centers, *park.consumers]:
            directory.ensure_org(
                consumer.id,
                kind="tenant",
                name=getattr(consumer, "name", None) or None,
                assets=[consumer.id],
            )
            out.print(f"organisation {consumer.id} owns {consumer.id}")
        return
    if org is None:
        raise typer.BadParameter("give an organisation id or --from-scenario", param_hint="ORG")
    directory.ensure_org(
        org, kind="park" if kind == "park" else "tenant", name=name, assets=asset or []
    )
    out.print(f"organisation {org} ({kind})")


@admin_app.command("create-token")
def create_token(
    user: Annotated[str, typer.Option(help="User the token acts for (created if new).")] = "admin",
    org: Annotated[str, typer.Option(help="The user's organisation.")] = "park",
    role: Annotated[str, typer.Option(help=f"One of {', '.join(ROLES)}.")] = "park_admin",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Issue an API token and print it once.

    For a park role the park organisation is created when missing, so that the first token of a
    new installation needs nothing else.
    """
    if role not in ROLES:
        raise typer.BadParameter(f"{role!r}; use one of {', '.join(ROLES)}", param_hint="--role")
    directory = _directory()
    if role in PARK_ROLES and org not in {o["org"] for o in directory.orgs()}:
        directory.ensure_org(org, kind="park")
    issued = directory.create_token(user=user, org=org, role=role)  # type: ignore[arg-type]
    if as_json:
        payload = {"token": issued.token, "user": user, "org": org, "role": role}
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    out.print(issued.token)
    err.print(f"token for {user} ({role} of {org}); it is shown only now, keep it safe")


@admin_app.command("tokens")
def list_tokens() -> None:
    """Every token (first characters only), its user, organisation, role and state."""
    table = Table(title="API tokens")
    for col in ("token", "user", "org", "role", "created (UTC)", "state"):
        table.add_column(col)
    for t in _directory().tokens():
        table.add_row(
            str(t["token"]),
            str(t["user"]),
            str(t["org"]),
            str(t["role"]),
            str(t["created_utc"])[:19],
            "revoked" if t["revoked"] else "active",
        )
    out.print(table)


@admin_app.command("revoke")
def revoke(token: Annotated[str, typer.Argument(help="The whole token.")]) -> None:
    """Revoke a token: it stops working at once."""
    _directory().revoke(token)
    out.print("revoked")
