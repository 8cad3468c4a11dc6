"""TLS for both listeners, from one certificate and key (`serve --tls-cert/--tls-key`).

The HTTP listener's socket is wrapped so each connection's handshake runs on that
connection's own thread (on its first read), never on the accepting thread; a
client that speaks plain HTTP to the TLS port is dropped and counted, not logged
as a crash. gRPC takes the same pair as server credentials.
"""

from __future__ import annotations

import ssl
import sys
from pathlib import Path
from socketserver import BaseServer
from typing import Any

import grpc

from spansift.receiver._stats import Counters

TLS_REJECTED = "tls"


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context for `cert` (PEM, with its chain) and `key`; raises ssl.SSLError or
    OSError when they cannot be loaded or do not match."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def grpc_credentials(cert: str, key: str) -> grpc.ServerCredentials:
    return grpc.ssl_server_credentials([(Path(key).read_bytes(), Path(cert).read_bytes())])


def wrap_http(server: BaseServer, context: ssl.SSLContext, counters: Counters) -> None:
    """Serve `server`'s connections over TLS; failed handshakes count as `tls` rejections."""
    listener: Any = server
    listener.socket = context.wrap_socket(
        listener.socket, server_side=True, do_handshake_on_connect=False
    )
    original = server.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ssl.SSLError, ConnectionError)):
            counters.rejected(TLS_REJECTED)
            return
        original(request, client_address)

    # The stock handler prints a traceback for every plain-text client; count them instead.
    setattr(server, "handle_error", handle_error)  # noqa: B010 - replacing a bound method
