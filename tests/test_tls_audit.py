"""TLS straight from the server (``--tls-cert/--tls-key``) and the audit log of authentication
failures (JSON lines: route, address, reason, request id; never a secret)."""

from __future__ import annotations

import datetime as dt
import json
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from conftest import ServerProcess, Signer, free_port


def self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), False
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


def test_serve_over_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    args = [sys.executable, "-m", "relaybox", "serve", "--port", str(port), "--data-dir", str(tmp_path / "data")]
    trust = ssl.create_default_context(cafile=str(cert))
    proc = subprocess.Popen([*args, "--tls-cert", str(cert), "--tls-key", str(key)], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = httpx.get(f"https://127.0.0.1:{port}/1/ping", verify=trust, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "no TLS server"
                time.sleep(0.1)
        assert r.status_code == 200 and r.text == "ok"
    finally:
        proc.terminate()
        proc.wait(10)
    # A key that is not the certificate's, or only one of the two: a clear refusal, exit 1 / 2.
    (tmp_path / "other").mkdir()
    _, other_key = self_signed(tmp_path / "other")
    bad = subprocess.run(
        [*args, "--tls-cert", str(cert), "--tls-key", str(other_key)], capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1 and "cannot use --tls-cert/--tls-key" in bad.stderr
    half = subprocess.run([*args, "--tls-cert", str(cert)], capture_output=True, text=True, timeout=60)
    assert half.returncode == 2 and "tls_cert and tls_key go together" in half.stderr


def test_authentication_failures_are_audited_without_secrets(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    srv = ServerProcess(tmp_path / "data", {"RELAYBOX_AUDIT_LOG": str(log)})
    srv.start()
    try:
        route, secret = srv.new_route("a")
        wrong = Signer(route, "not-the-secret-0123456789")
        r1 = httpx.get(f"{srv.url}/1/list-messages", headers=wrong.receive())
        assert r1.status_code == 401
        ok = httpx.get(f"{srv.url}/1/list-messages", headers=Signer(route, secret).receive())
        assert ok.status_code == 200
        r2 = httpx.get(
            f"{srv.url}/v1/station", headers={"Authorization": "RCWS rbk_000000000000000000000000:" + "0" * 64}
        )
        r3 = httpx.get(f"{srv.url}/v1/station", headers={"Authorization": "Bearer not.a.token"})
        assert r2.status_code == r3.status_code == 401
    finally:
        srv.stop()
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [(x["api"], x["route"], x["request_id"]) for x in lines] == [
        ("/1", route, r1.headers["request-id"]),
        ("/v1", "rbk_000000000000000000000000", r2.headers["request-id"]),
        ("/v1", None, r3.headers["request-id"]),
    ]
    assert all(x["event"] == "auth_failure" and x["address"] == "127.0.0.1" and x["reason"] for x in lines)
    assert lines[0]["code"] == 101 and lines[1]["reason"] == "unknown-key"
    text = log.read_text()
    assert secret not in text and "not-the-secret" not in text and "0" * 64 not in text
