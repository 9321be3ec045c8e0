"""Bearer tokens and roles: who may moderate, who may administer."""

from __future__ import annotations

import hmac
import re

from service.core import Core
from service.errors import Forbidden, InvalidInput, TokenNameTaken, Unauthorized
from service.store.tokens import TokenHolder

__all__ = [
    "ADMIN",
    "MODERATOR",
    "ROLES",
    "TokenHolder",
    "authenticate",
    "create_token",
    "list_tokens",
    "require_role",
    "revoke_token",
]

MODERATOR = "moderator"
ADMIN = "admin"
# Lowest first: a role may do everything the roles before it may.
ROLES = (MODERATOR, ADMIN)
# Names that sign yaynay's own lines in the moderation log: the bootstrap admin and privacy erasures.
RESERVED_NAMES = frozenset({"admin", "privacy-request"})
TOKEN_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")


def authenticate(core: Core, token: str | None) -> TokenHolder | None:
    """Who presents ``token``: the bootstrap admin (compared in constant time), a stored token, or None."""
    if not token:
        return None
    if core.admin_token and hmac.compare_digest(token.encode(), core.admin_token.encode()):
        return TokenHolder("admin", ADMIN)
    # Stored tokens are looked up by their SHA-256, so no comparison of secrets happens here.
    return core.store.tokens.holder(token, now=core.now())


def require_role(core: Core, token: str | None, role: str) -> TokenHolder:
    """The holder of ``token`` when it has ``role`` or a higher one; raises Unauthorized or Forbidden."""
    holder = authenticate(core, token)
    if holder is None:
        raise Unauthorized()
    if ROLES.index(holder.role) < ROLES.index(role):
        raise Forbidden(f"This needs the {role} role; {holder.name} is a {holder.role}.")
    return holder


def create_token(core: Core, name: str, role: str, *, lifetime: float | None = None) -> str:
    """A new token for ``name`` with ``role``, to show once (only its hash is kept); with
    ``lifetime`` (seconds) it stops working that long from now, else it lasts until revoked.

    Raises InvalidInput for a malformed or reserved name, an unknown role, or a name in use.
    """
    if not TOKEN_NAME.match(name):
        raise InvalidInput("A token name is 1-64 letters, digits and _ . @ -", fields={"name": ["Not a name."]})
    if name in RESERVED_NAMES:
        raise InvalidInput(
            f"{name!r} names yaynay's own actions in the log; choose another", fields={"name": ["Reserved."]}
        )
    if role not in ROLES:
        raise InvalidInput(f"A role is one of {', '.join(ROLES)}", fields={"role": ["Unknown role."]})
    if lifetime is not None and lifetime <= 0:
        raise InvalidInput("A token's lifetime is above zero", fields={"expires": ["Not above zero."]})
    now = core.now()
    token = core.store.tokens.create(name, role, now=now, expires_at=now + lifetime if lifetime is not None else None)
    if token is None:
        raise TokenNameTaken(name)
    return token


def list_tokens(core: Core) -> list[TokenHolder]:
    """Every token holder with its role, when its token was made and when it expires."""
    return core.store.tokens.all()


def revoke_token(core: Core, name: str) -> bool:
    """Revoke ``name``'s token at once; False when there is none."""
    return core.store.tokens.revoke(name)
