"""The run scheduler service: queue, dispatch and progress over MQTT."""

from cellctl.scheduler.service import Scheduler

__all__ = ["Scheduler"]
