"""Typed site and station configuration (TOML files, validated with pydantic)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cellctl.config.api import ApiConfig
from cellctl.config.endpoints import (
    camera_source_problem,
    printer_backend_problem,
    serial_port_problem,
)
from cellctl.config.provenance import ProvenanceConfig
from cellctl.domain.model import CellKind, Role, Severity

Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SiteInfo(_Strict):
    id: Ident
    name: str = Field(min_length=1)
    timezone: str = "UTC"


class MqttConfig(_Strict):
    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    keepalive_s: int = Field(default=10, ge=2, le=3600)

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        if not (v.startswith("mqtt://") or v.startswith("mqtts://")):
            raise ValueError("expected mqtt://host:port or mqtts://host:port")
        return v

    @property
    def host(self) -> str:
        rest = self.url.split("://", 1)[1]
        return rest.rsplit(":", 1)[0] if ":" in rest else rest

    @property
    def port(self) -> int:
        rest = self.url.split("://", 1)[1]
        if ":" in rest:
            return int(rest.rsplit(":", 1)[1].rstrip("/"))
        return 8883 if self.url.startswith("mqtts://") else 1883

    @property
    def tls(self) -> bool:
        return self.url.startswith("mqtts://") or self.ca_file is not None

    @model_validator(mode="after")
    def _port_is_number(self) -> MqttConfig:
        try:
            port = self.port
        except ValueError:
            raise ValueError(f"url {self.url!r}: the port must be a number") from None
        if not 0 < port < 65536:
            raise ValueError(f"url {self.url!r}: the port must be 1-65535")
        return self


class Operator(_Strict):
    name: str = Field(min_length=1)
    badge: Ident
    role: Role
    pin_hash: str | None = Field(
        default=None, description="scrypt$... made by `cellctl operators set-pin`; never a PIN"
    )

    @field_validator("pin_hash")
    @classmethod
    def _hash_only(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith("scrypt$"):
            raise ValueError(
                "expected a salted hash made by `cellctl operators set-pin` (scrypt$...), "
                "never a plain PIN"
            )
        return v


class DefectCode(_Strict):
    code: Ident
    description: str = Field(min_length=1)
    severity: Severity
    kinds: list[CellKind] = Field(
        default_factory=list,
        description="the cell kinds where this defect can arise (none listed: every kind)",
    )


class DowntimeReasonConfig(_Strict):
    code: Ident
    text: str = Field(min_length=1)
    planned: bool = False


class Shift(_Strict):
    name: str
    start: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    end: str = Field(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default=["mon", "tue", "wed", "thu", "fri"]  # pydantic copies a default per instance
    )
    breaks_min: int = Field(default=0, ge=0, le=600)


class HistoryConfig(_Strict):
    # Days a station keeps an event after the site historian has confirmed holding it;
    # older confirmed events are pruned from the station's store (cellctl/store/pruning.py).
    retention_days: float = Field(default=30, gt=0)


class SiteConfig(_Strict):
    site: SiteInfo
    mqtt: MqttConfig = MqttConfig()
    operators: list[Operator] = Field(default_factory=list)
    defects: list[DefectCode] = Field(default_factory=list)
    downtime_reasons: list[DowntimeReasonConfig] = Field(default_factory=list)
    shifts: list[Shift] = Field(default_factory=list)
    stations: list[str] = Field(default_factory=list, description="station files, relative")
    signing_key: Path | None = None
    public_key: Path | None = None
    scheduler_store: Path = Path("var/scheduler.db")
    # The site historian's database: a SQLite file (relative to the site file) or a
    # postgresql:// URL.
    historian_db: str = "var/historian.db"
    history: HistoryConfig = HistoryConfig()
    # The HTTP API for the shop's systems (`cellctl api`); see cellctl/config/api.py.
    api: ApiConfig | None = None
    # The public provenance page and the unit QRs that open it (cellctl/config/provenance.py).
    provenance: ProvenanceConfig | None = None

    @model_validator(mode="after")
    def _unique(self) -> SiteConfig:
        for label, items, key in (
            ("operators", self.operators, "badge"),
            ("defects", self.defects, "code"),
            ("downtime_reasons", self.downtime_reasons, "code"),
        ):
            seen: set[str] = set()
            for item in items:
                value = getattr(item, key)
                if value in seen:
                    raise ValueError(f"{label}: {key} {value!r} appears twice")
                seen.add(value)
        return self

    def operator(self, badge: str) -> Operator | None:
        return next((o for o in self.operators if o.badge == badge), None)

    def defect(self, code: str) -> DefectCode | None:
        return next((d for d in self.defects if d.code == code), None)

    def defects_for(self, kind: str) -> list[DefectCode]:
        """The defects a cell of `kind` is offered: those that arise there. QA inspects
        finished units, so it is offered every one."""
        if kind == CellKind.QA:
            return list(self.defects)
        return [d for d in self.defects if not d.kinds or kind in d.kinds]


class StationInfo(_Strict):
    id: Ident
    # A cell kind's name (stations/kinds.py knows which exist; `config check` and the
    # station say so for one it does not).
    kind: Annotated[str, Field(min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_-]*$")]
    name: str = ""
    site: str = Field(default="site.toml", description="the site file, relative to this one")
    ideal_cycle_s: float = Field(default=60.0, gt=0)
    store: Path | None = None

    @field_validator("site", "store")
    @classmethod
    def _no_nul(cls, v: str | Path | None) -> str | Path | None:
        # A NUL byte makes every file call raise ValueError (found by bench.fuzz).
        if v is not None and "\x00" in str(v):
            raise ValueError("a path cannot contain a NUL character")
        return v


class MachineConfig(_Strict):
    driver: Literal["grbl", "marlin", "line", "none"] = "none"
    port: str = ""
    baud: int = Field(default=115200, gt=0)
    status_poll_hz: float = Field(default=5.0, gt=0, le=50)

    @model_validator(mode="after")
    def _port_needed(self) -> MachineConfig:
        if self.driver != "none" and not self.port:
            raise ValueError(f"driver {self.driver!r} needs a port (a device path or URL)")
        if self.port and (problem := serial_port_problem(self.port)):
            raise ValueError(f"port {problem}")
        return self


class CameraConfig(_Strict):
    source: str | int | None = None
    width: int = Field(default=1280, gt=0)
    height: int = Field(default=720, gt=0)
    fps: float = Field(default=30.0, gt=0, le=240)
    focus: float | None = None
    exposure: float | None = None
    roi: tuple[float, float, float, float] | None = Field(
        default=None, description="x, y, width, height as fractions of the frame"
    )
    decoders: list[Literal["zxing", "zbar"]] = Field(default=["zxing", "zbar"])
    dedup_s: float = Field(default=2.0, ge=0)
    budget_ms: float = Field(default=30.0, gt=0, description="fallback CPU time per video frame")
    still_budget_ms: float = Field(
        default=150.0, gt=0, description="CPU time for a still image or a scene that stopped moving"
    )
    symbologies: list[
        Literal[
            "QR", "DataMatrix", "Code128", "EAN-13", "UPC-A", "EAN-8", "Code39", "ITF", "DataBar"
        ]
    ] = Field(
        default=[
            "QR",
            "DataMatrix",
            "Code128",
            "EAN-13",
            "UPC-A",
            "EAN-8",
            "Code39",
            "ITF",
            "DataBar",
        ],
        min_length=1,
        description="what the camera reads; fewer is faster and leaves fewer ways to misread",
    )

    @field_validator("source")
    @classmethod
    def _source(cls, v: str | int | None) -> str | int | None:
        if v is not None and (problem := camera_source_problem(v)):
            raise ValueError(problem)
        return v

    @field_validator("roi")
    @classmethod
    def _roi(cls, v: tuple[float, float, float, float] | None):
        if v is not None:
            x, y, w, h = v
            if not (0 <= x < 1 and 0 <= y < 1 and 0 < w <= 1 - x and 0 < h <= 1 - y):
                raise ValueError("roi must be fractions inside the frame: 0 <= x, y; x+w, y+h <= 1")
        return v


class ScannerConfig(_Strict):
    kind: Literal["wedge", "serial"]
    port: str | None = None
    baud: int = 9600

    @model_validator(mode="after")
    def _port(self) -> ScannerConfig:
        if self.kind == "serial" and not self.port:
            raise ValueError("a serial scanner needs a port")
        if self.port and (problem := serial_port_problem(self.port)):
            raise ValueError(f"port {problem}")
        return self


class PrinterConfig(_Strict):
    model: str = "QL-820NWB"
    backend: str = Field(description="tcp://host:9100, usb://..., file:///path")
    media: str = "62"
    templates: dict[str, str] = Field(default_factory=dict)

    @field_validator("backend")
    @classmethod
    def _backend(cls, v: str) -> str:
        if problem := printer_backend_problem(v):
            raise ValueError(problem)
        return v


class StationConfig(_Strict):
    station: StationInfo
    machine: MachineConfig = MachineConfig()
    camera: CameraConfig | None = None
    scanners: list[ScannerConfig] = Field(default_factory=list)
    printer: PrinterConfig | None = None
    serial_format: str = "{sku}-{batch}-{n:04}"

    @field_validator("serial_format")
    @classmethod
    def _serial_format(cls, v: str) -> str:
        from cellctl.domain.serials import check_format

        check_format(v)
        return v
