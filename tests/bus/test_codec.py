from __future__ import annotations

import pytest

from cellctl.bus.codec import MAX_PAYLOAD, PayloadError, decode, decode_assign, decode_resend
from cellctl.bus.topics import Topics
from cellctl.config.models import MqttConfig


@pytest.mark.parametrize(
    "raw",
    [None, b"", b"{", b"\xff", b"[]", b'{"v": 2}', b'{"x": 1}', b"{" + b" " * MAX_PAYLOAD + b"}"],
)
def test_decode_rejects(raw) -> None:
    with pytest.raises(PayloadError):
        decode(raw)


def test_assign_and_resend() -> None:
    assert decode_assign(b"") is None
    with pytest.raises(PayloadError):
        decode_assign(b'{"v": 1, "assign_id": "a", "run_id": "R", "step": 0, "quantity": 0}')
    assert decode_resend(b'{"v": 1, "from_seq": 3, "to_seq": 5}') == (3, 5)
    with pytest.raises(PayloadError):
        decode_resend(b'{"v": 1, "from_seq": 5, "to_seq": 3}')


def test_topics_and_tls_config() -> None:
    t = Topics("s1")
    assert t.cell_events("cut-01") == "cellctl/v1/s1/cells/cut-01/events"
    assert t.cell_of(t.cell_status("cut-01")) == ("cut-01", "status")
    assert t.cell_of("cellctl/v1/other/cells/x/status") is None
    from cellctl.bus.connection import client_kwargs

    kw = client_kwargs(MqttConfig(url="mqtts://broker:8883", username="u", password="p"))
    assert (kw["hostname"], kw["port"], kw["username"]) == ("broker", 8883, "u")
    assert "tls_params" in kw
    assert "tls_params" not in client_kwargs(MqttConfig())
