"""Tests that must not reach the network: every outbound connection but to this machine fails."""

from __future__ import annotations

import ipaddress
import socket

import pytest


class NetworkBlocked(AssertionError):
    """Raised by a blocked connection: nothing may be downloaded (workers are often air-gapped)."""


def block_network(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Make every non-loopback ``connect`` raise; returns the list of the addresses tried (to assert on)."""
    tried: list[object] = []
    real_connect, real_connect_ex, real_create = socket.socket.connect, socket.socket.connect_ex, socket.create_connection

    def check(address) -> None:
        host = address[0] if isinstance(address, tuple) else None
        if host is None:
            return  # a Unix socket
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = host == "localhost"
        if not loopback:
            tried.append(address)
            raise NetworkBlocked(f"outbound connection to {address} blocked")

    def connect(self, address):
        check(address)
        return real_connect(self, address)

    def connect_ex(self, address):
        check(address)
        return real_connect_ex(self, address)

    def create_connection(address, *args, **kwargs):
        check(address)
        return real_create(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket, "create_connection", create_connection)
    return tried
