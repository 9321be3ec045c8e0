"""Keyed hashes of who sent a request, so that Redis never holds a voter token or an IP.

Both digests are HMAC-SHA256 under the secret key. A voter digest is salted by the poll,
so the same browser cannot be followed from one poll to the next in the data.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import ipaddress

VOTER_DIGEST_BYTES = 8


def voter_digest(secret_key: str, poll_id: str, voter_token: str) -> bytes:
    """The 8-byte keyed digest identifying one voter token on one poll."""
    message = f"voter\0{poll_id}\0{voter_token}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).digest()[:VOTER_DIGEST_BYTES]


def client_network(ip: str) -> str:
    """The address that identifies one client: IPv4 as is, IPv6 by its /64 network.

    One IPv6 subscriber usually holds a whole /64, so counting single IPv6 addresses
    would let one reader rotate through billions of them.
    """
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 4:
        return str(address)
    if address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


@functools.lru_cache(maxsize=4096)
def ip_digest(secret_key: str, ip: str) -> str:
    """A short, key-safe keyed digest of the client's network, for rate-limit keys.

    Kept for the last few thousand addresses: a reader's requests come in runs, and
    parsing the address cost about as much as the rest of a vote's own work.
    """
    message = f"ip\0{client_network(ip)}".encode()
    digest = hmac.new(secret_key.encode(), message, hashlib.sha256).digest()[:9]
    return base64.urlsafe_b64encode(digest).decode()


def _keyed_hex(secret_key: str, purpose: str, value: str, length: int = 32) -> str:
    return hmac.new(secret_key.encode(), f"{purpose}\0{value}".encode(), hashlib.sha256).hexdigest()[:length]


def email_digest(secret_key: str, email: str) -> str:
    """Keyed digest of an email address (case-insensitive), for finding a person's comments."""
    return _keyed_hex(secret_key, "email", email.strip().lower())


def text_digest(secret_key: str, body: str) -> str:
    """Keyed digest of a comment's text, blind to case and spacing: the "same text" signal."""
    return _keyed_hex(secret_key, "text", " ".join(body.lower().split()))


def idempotency_digest(secret_key: str, client: str, key: str) -> str:
    """Keyed digest of one client's Idempotency-Key, so two clients' keys never collide."""
    return _keyed_hex(secret_key, "idem", f"{client}\0{key}")


def secret_fingerprint(secret_key: str) -> str:
    """A short keyed digest that tells two secret keys apart without revealing either: an
    export carries it, so a restore under another key (whose voter and email digests would
    not match) is refused."""
    return _keyed_hex(secret_key, "fingerprint", "yaynay", 16)


def edit_digest(secret_key: str, edit_token: str) -> str:
    """Keyed digest of a comment's edit token: Redis holds this, never the token."""
    return _keyed_hex(secret_key, "edit", edit_token)


def form_proof(secret_key: str, comment_id: str, edit_token: str) -> str:
    """What an iframe page's edit and delete forms carry beside the edit-token cookie: a page
    of another site can post the form, and the browser adds the cookie, but it cannot read
    the page to learn this value (a synchronizer token, keyed by the comment's edit token)."""
    return _keyed_hex(secret_key, "form", f"{comment_id}\0{edit_token}")
