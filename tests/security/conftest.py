from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.security.tls_broker import (
    DEPLOY,
    PASSWORDS,
    SecureBroker,
    ShippedConfigMosquitto,
    make_certs,
    make_password_file,
    shipped_config,
)

DEMO = Path(__file__).resolve().parents[2] / "stations" / "demo"


@pytest.fixture
def demo_dir(tmp_path: Path) -> Path:
    """A private copy of the demo site (stores and keys land inside it)."""
    target = tmp_path / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("var"))
    return target


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[SecureBroker]:
    certs = make_certs(tmp_path / "certs")
    passwd = make_password_file(tmp_path / "passwd", PASSWORDS)
    broker = ShippedConfigMosquitto(workdir=tmp_path)
    broker.text = shipped_config(broker.port, certs, passwd, DEPLOY / "acl")
    broker.start()
    try:
        yield SecureBroker(broker, certs)
    finally:
        broker.stop()
