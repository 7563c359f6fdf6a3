"""How many connections a service takes: in all, and from one client address.

Each connection may buffer up to one capped payload, so capping their number is what bounds memory; the
per-address cap, below the service's, keeps one device on the LAN from taking every slot from the others
(Home Assistant opens one connection per request, so it needs a few at once, never dozens).
"""

from __future__ import annotations

from collections import Counter


class ConnectionLimit:
    def __init__(self, limit: int, per_peer: int) -> None:
        self.limit = limit
        self.per_peer = min(per_peer, limit)
        self.open = 0
        self._by_peer: Counter[str] = Counter()

    def admit(self, peer: str | None) -> str | None:
        """Take a slot for a connection from `peer` (None: a local socket, counted only in all); returns why
        not when the service or that address is at its limit."""
        if self.open >= self.limit:
            return f"{self.open} connections open, its limit"
        if peer is not None and self._by_peer[peer] >= self.per_peer:
            return f"{self._by_peer[peer]} connections open from {peer}, its limit per client"
        self.open += 1
        if peer is not None:
            self._by_peer[peer] += 1
        return None

    def release(self, peer: str | None) -> None:
        self.open -= 1
        if peer is not None:
            self._by_peer[peer] -= 1
            if self._by_peer[peer] <= 0:
                del self._by_peer[peer]

    def from_peer(self, peer: str) -> int:
        return self._by_peer[peer]
