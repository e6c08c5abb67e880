"""HTTPS where the site configures a certificate, and the `cellctl api` command."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import ssl as ssl_lib
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from cellctl.api.app import create_app, uvicorn_ssl
from cellctl.cli import main
from tests.api.conftest import ENV, auth, free_port, site_config


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp / "api.crt", tmp / "api.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))  # fmt: skip
    return cert_path, key_path


async def test_https_when_the_site_gives_a_certificate(mosquitto, tmp_path: Path) -> None:
    import asyncio

    import uvicorn

    cert, key = _self_signed(tmp_path)
    site = site_config(mosquitto.url, tmp_path)
    api = site.api.model_copy(update={"cert_file": Path("api.crt"), "key_file": Path("api.key")})
    site = site.model_copy(update={"api": api})
    ssl = uvicorn_ssl(api, tmp_path)
    assert ssl == {"ssl_certfile": str(cert), "ssl_keyfile": str(key)}
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(site, None, environ=ENV), host="127.0.0.1",
                                           port=port, log_level="warning", **ssl))  # fmt: skip
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done()
            await asyncio.sleep(0.01)
        async with httpx.AsyncClient(verify=ssl_lib.create_default_context(cafile=cert)) as http:
            r = await http.get(f"https://127.0.0.1:{port}/runs", headers=auth("viewer"))
            assert r.status_code == 200 and r.json()["runs"] == []
        async with httpx.AsyncClient() as http:
            try:
                await http.get(f"http://127.0.0.1:{port}/health")
                plain_ok = True
            except httpx.HTTPError:
                plain_ok = False
            assert not plain_ok  # no plain HTTP on a TLS port
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


def test_cli_token_and_openapi(tmp_path: Path, capsys) -> None:
    assert main(["api", "token"]) == 0
    out = capsys.readouterr().out.splitlines()
    token = out[0].rsplit(" ", 1)[1]
    assert out[1] == f'sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"'
    site = tmp_path / "site.toml"
    site.write_text(f'[site]\nid = "s"\nname = "S"\n[api]\nstate_db = "{tmp_path}/a.db"\n'
                    '[[api.tokens]]\nname = "shop"\nrole = "viewer"\n'
                    f'sha256 = "{"0" * 64}"\n')  # fmt: skip
    assert main(["api", "--site", str(site), "openapi"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["info"]["title"] == "cellctl API" and "/runs/{run_id}/cancel" in doc["paths"]
