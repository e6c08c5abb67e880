"""GRBL status reports: every field the kiosk shows, overrides included."""

from __future__ import annotations

from firmware_bridge import make_machine
from firmware_bridge.machine import wait_for
from tests.bridge.conftest import connect


async def test_overrides_and_spindle_come_from_the_simulators_reports(machines) -> None:
    m, _ = await connect(machines, "grbl")
    await wait_for(lambda: m.state.overrides is not None, 5)
    assert m.state.overrides == (100, 100, 100)
    assert m.state.spindle == 0.0 and m.state.feed == 0.0


def test_a_full_status_report_is_parsed_field_by_field() -> None:
    m = make_machine("grbl", "loop://", reconnect=False)
    m._status("<Run|WCO:10.000,0.000,-5.000>")
    m._status("<Run|MPos:12.500,3.000,-1.000|Bf:12,96|FS:1500,8000|Ov:120,100,90>")
    st = m.state
    assert st.status == "Run"
    assert st.position == (12.5, 3.0, -1.0) and st.work_position == (2.5, 3.0, 4.0)
    assert (st.planner_free, st.rx_free) == (12, 96)
    assert (st.feed, st.spindle, st.overrides) == (1500.0, 8000.0, (120, 100, 90))
    # A report without Ov keeps the last overrides, as GRBL sends them only now and then.
    m._status("<Idle|MPos:0.000,0.000,0.000|FS:0,0>")
    assert st.overrides == (120, 100, 90) and st.status == "Idle"
