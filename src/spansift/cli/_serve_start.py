"""Starting `spansift serve`: say exactly why it cannot, and leave nothing half-made behind.

Ports are tried before the database is touched, so "port 4318 (OTLP/HTTP) is in
use" costs no file; a start that still fails removes the database, its WAL and
the spool folder when this start created them.
"""

from __future__ import annotations

import errno
import shutil
import socket
import ssl
from pathlib import Path

import click

from spansift.cli._group import os_error_message
from spansift.cli._open import HeldError, check_folder, held_message, open_log
from spansift.errors import SpansiftError
from spansift.receiver import Receiver, ReceiverConfig, spool_path
from spansift.receiver._tls import server_context
from spansift.rules import RuleSet


def _fail(message: str) -> None:
    raise click.ClickException(message)


def check_port(host: str, port: int, protocol: str, flag: str) -> None:
    """Fail with one line naming port, protocol and flag when `host:port` cannot be bound."""
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As the HTTP listener does, so a port in TIME_WAIT does not count as taken.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            _fail(_port_message(host, port, protocol, flag, exc))


def _port_message(host: str, port: int, protocol: str, flag: str, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} ({protocol}) on {host} is in use: stop what listens there, or pass "
            f"{flag} with another port (0 picks a free one)"
        )
    return f"cannot listen on {host}:{port} ({protocol}): {os_error_message(exc)}; check --host"


def check_tls(cert: str | None, key: str | None) -> None:
    """Both or neither; both loadable and matching. Checked before rules, ports and files."""
    if bool(cert) != bool(key):
        given, missing = ("--tls-cert", "--tls-key") if cert else ("--tls-key", "--tls-cert")
        _fail(f"{given} needs {missing}: pass both (or neither, for plain text on loopback)")
    if cert and key:
        try:
            server_context(cert, key)
        except (OSError, ssl.SSLError) as exc:
            reason = os_error_message(exc) if isinstance(exc, OSError) and exc.filename else exc
            _fail(f"--tls-cert {cert} / --tls-key {key}: cannot use them: {reason}")


def start(config: ReceiverConfig, ruleset: RuleSet) -> Receiver:
    """A started receiver, or one `Error:` line (and no new files) saying why not."""
    check_port(config.host, config.grpc_port, "OTLP/gRPC", "--grpc-port")
    check_port(config.host, config.http_port, "OTLP/HTTP", "--http-port")
    check_folder(config.db)
    created = [p for p in _made_by_start(config.db) if not p.exists()]
    try:
        open_log(config.db).close()  # waits under --wait; names the holder otherwise
    except HeldError as exc:
        _fail(_held(config.db, exc))
    receiver = Receiver(config, ruleset)
    try:
        receiver.start()
    except (SpansiftError, OSError, RuntimeError) as exc:
        receiver.stop()
        _remove(created)
        _fail(_start_error(config, exc))
    return receiver


def _made_by_start(db: str) -> list[Path]:
    return [Path(db), Path(f"{db}.wal"), spool_path(db)]


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def _held(db: str, exc: HeldError) -> str:
    server = exc.server
    if server is None:
        return str(exc)
    return (
        f"{db} is held by spansift serve (pid {server.pid}, {server.url}); one receiver per "
        "database: send to that one, or stop it first"
    )


def _start_error(config: ReceiverConfig, exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.errno == errno.EADDRINUSE:
        # The HTTP port was taken between the probe and the bind.
        return _port_message(config.host, config.http_port, "OTLP/HTTP", "--http-port", exc)
    if isinstance(exc, SpansiftError):
        held = held_message(config.db, exc)
        if held is not None:
            return _held(config.db, held)
    if isinstance(exc, OSError):
        return f"cannot start: {os_error_message(exc)}"
    return f"cannot start: {exc}"
