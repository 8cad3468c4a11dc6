"""`serve` says what it does (`-v`, the periodic summary), counts HTTP 401s, and speaks TLS."""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import socket
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opentelemetry.sdk.trace.export import SpanExportResult
from receiver_helpers import (
    EXPORT,
    PB,
    Server,
    count_exceptions,
    post,
    protobuf_body,
    spansift,
    tool_error_spans,
    trace_ids,
    wait_for,
)


def _stats(server: Server, token: str = "") -> dict[str, object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    status, _, body = post(f"{server.url}/spansift/stats", b"", headers, method="GET")
    assert status == 200
    doc: dict[str, object] = json.loads(body)
    return doc


def test_verbose_logs_requests_batches_and_a_summary(make_server: Callable[..., Server]) -> None:
    """-v: a line per HTTP and gRPC request (peer, status, spans), per written batch, and the
    summary; a wrong token is logged as 401 and counted like gRPC's UNAUTHENTICATED."""
    server = make_server("-v", "--token", "s3cret", "--summary-every", "0.5")
    spans = tool_error_spans(2, "verbose")
    body = protobuf_body(spans)
    good = {**PB, "Authorization": "Bearer s3cret"}
    assert post(f"{server.url}/v1/traces", body, good)[0] == 200
    assert post(f"{server.url}/v1/traces", body, {**PB, "Authorization": "Bearer nope"})[0] == 401
    with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
        call = channel.unary_unary(EXPORT)
        call(body, timeout=10, metadata=(("authorization", "Bearer s3cret"),))
        with pytest.raises(grpc.RpcError):
            call(body, timeout=10, metadata=(("authorization", "Bearer nope"),))
    wait_for(lambda: "exceptions found, 2 new" in server.output(), what="the batch line")
    wait_for(lambda: re.search(r"last 0\.5 s: \d+ requests", server.output()), what="a summary")
    out = server.output()
    assert re.search(r"spansift serve: http 127\.0\.0\.1:\d+ POST /v1/traces 200, 4 spans\n", out)
    assert re.search(r"spansift serve: http 127\.0\.0\.1:\d+ POST /v1/traces 401\n", out)
    assert re.search(r"spansift serve: grpc ipv4:127\.0\.0\.1:\d+ Export OK, 4 spans\n", out)
    assert re.search(r"spansift serve: grpc ipv4:127\.0\.0\.1:\d+ Export UNAUTHENTICATED\n", out)
    assert re.search(
        r"spansift serve: wrote \d+ requests? \(\d+ spans\): \d+ exceptions found", out
    )
    assert _stats(server, "s3cret")["requests_rejected"] == {"unauthenticated": 2}


def test_quiet_by_default_apart_from_the_summary(make_server: Callable[..., Server]) -> None:
    """Without -v no request lines are written; the summary still comes."""
    server = make_server("--summary-every", "0.3")
    assert post(f"{server.url}/v1/traces", protobuf_body(tool_error_spans(1, "q")), PB)[0] == 200
    wait_for(lambda: "last 0.3 s: 1 requests, 2 spans" in server.output(), what="the summary")
    assert " POST /v1/traces" not in server.output()


def _certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "spansift test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls_on_both_protocols(
    make_server: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real exporters send over TLS on both ports; the CLI reads through https; a plain
    HTTP client is dropped and counted."""
    # requests prefers these to the exporter's certificate_file when they are set.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
        OTLPSpanExporter as GrpcExporter,
    )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    cert, key = _certificate(tmp_path)
    server = make_server("--tls-cert", str(cert), "--tls-key", str(key))
    assert ", tls on both, " in server.output()
    https = f"https://127.0.0.1:{server.http_port}"
    http_spans = tool_error_spans(2, "https")
    exporter = HttpExporter(endpoint=f"{https}/v1/traces", certificate_file=str(cert), timeout=10)
    assert exporter.export(http_spans) == SpanExportResult.SUCCESS
    exporter.shutdown()
    grpc_spans = tool_error_spans(1, "grpcs")
    secure = GrpcExporter(
        endpoint=f"127.0.0.1:{server.grpc_port}",
        insecure=False,
        credentials=grpc.ssl_channel_credentials(cert.read_bytes()),
        timeout=10,
    )
    assert secure.export(grpc_spans) == SpanExportResult.SUCCESS
    secure.shutdown()
    ids = trace_ids(http_spans + grpc_spans)
    wait_for(lambda: count_exceptions(server, ids) == 3, what="3 rows sent over TLS")
    listed = spansift("ls", "--db", str(server.db), "--format", "csv", cwd=server.workdir)
    assert "get_order_https" in listed.stdout
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as plain:
        plain.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert plain.recv(100) == b""
    stats = json.loads(spansift("stats", "--db", str(server.db), "--format", "json",
                                cwd=server.workdir).stdout)  # fmt: skip
    assert stats["receiver"]["requests_rejected"] == {"tls": 1}


def test_tls_needs_a_matching_pair(tmp_path: Path) -> None:
    """One of the two, or files that are not a certificate and key, is one Error line."""
    cert, key = _certificate(tmp_path)
    alone = spansift("serve", "--tls-cert", str(cert), cwd=tmp_path, check=False)
    assert alone.returncode == 1
    assert alone.stderr == (
        "Error: --tls-cert needs --tls-key: pass both (or neither, for plain text on loopback)\n"
    )
    swapped = spansift("serve", "--tls-cert", str(key), "--tls-key", str(cert), cwd=tmp_path,
                       check=False)  # fmt: skip
    assert swapped.returncode == 1
    assert swapped.stderr.startswith(f"Error: --tls-cert {key} / --tls-key {cert}: cannot use")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cert.pem", "key.pem"]
