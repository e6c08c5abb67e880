"""Fixtures for the scanning tests: generated benches, frames and keys."""

from __future__ import annotations

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cellctl.scan import synth


@pytest.fixture(scope="session")
def backgrounds() -> list[np.ndarray]:
    rng = np.random.default_rng(2024)
    return [synth.busy_background(rng) for _ in range(3)]


@pytest.fixture(scope="session")
def site_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()
