"""A Mosquitto with TLS, passwords and the shipped ACL: certificates, password file, config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from cellctl.bus.broker_process import Mosquitto
from cellctl.config.models import MqttConfig

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto"
PASSWORDS = {
    "cut-01": "cut-secret-1",
    "print-01": "print-secret-2",
    "scheduler": "sched-secret-3",
    "board": "board-secret-4",
}


def make_certs(folder: Path) -> dict[str, Path]:
    """A CA and a broker certificate for 127.0.0.1/localhost, made here and now."""
    import ipaddress
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cellctl test CA")])
    usage = dict(
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        encipher_only=False,
        decipher_only=False,
    )
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=False, crl_sign=False, **usage),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    paths = {"ca": folder / "ca.crt", "cert": folder / "broker.crt", "key": folder / "broker.key"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    paths["key"].chmod(0o600)
    return paths


def make_password_file(path: Path, users: dict[str, str]) -> Path:
    """With mosquitto_passwd (PBKDF2-SHA512 hashes); passwords go in through -b."""
    import shutil
    import subprocess

    exe = shutil.which("mosquitto_passwd")
    if exe is None:
        pytest.skip("mosquitto_passwd is not installed")
    path.write_text("")
    for user, password in users.items():
        subprocess.run([exe, "-b", str(path), user, password], check=True, capture_output=True)
    path.chmod(0o600)
    return path


def shipped_config(port: int, certs: dict[str, Path], passwd: Path, acl: Path) -> str:
    """deploy/mosquitto/mosquitto.conf with this test's port, files and logging."""
    import os
    import re

    text = (DEPLOY / "mosquitto.conf").read_text()
    subs = {
        r"^listener .*$": f"listener {port} 127.0.0.1",
        r"^cafile .*$": f"cafile {certs['ca']}",
        r"^certfile .*$": f"certfile {certs['cert']}",
        r"^keyfile .*$": f"keyfile {certs['key']}",
        r"^password_file .*$": f"password_file {passwd}",
        r"^acl_file .*$": f"acl_file {acl}",
        r"^persistence true$": "persistence false",
        r"^persistence_location .*$": "",
        r"^log_dest .*$": "log_dest stderr",
    }
    for pattern, repl in subs.items():
        text, n = re.subn(pattern, repl, text, flags=re.M)
        assert n <= 1, pattern
    if os.geteuid() == 0:
        # As root Mosquitto would switch to the `mosquitto` user, which cannot read
        # pytest's private temporary folder.
        text = "user root\n" + text
    return text


@dataclass
class SecureBroker:
    broker: Mosquitto
    certs: dict[str, Path]

    @property
    def url(self) -> str:
        return f"mqtts://127.0.0.1:{self.broker.port}"

    def mqtt(self, user: str | None, password: str | None = None) -> MqttConfig:
        if password is None and user is not None:
            password = PASSWORDS[user]
        return MqttConfig(url=self.url, username=user, password=password, ca_file=self.certs["ca"])


class ShippedConfigMosquitto(Mosquitto):
    text: str = ""

    def config_text(self) -> str:
        return self.text
