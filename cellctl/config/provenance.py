"""The `[provenance]` table of the site file: where the public provenance page lives and
what of a unit's story it may show.

    [provenance]
    base_url = "https://maker.example/p/"     # unit QRs become {base_url}#s=…&g=…
    public = ["product", "edition", "made", "steps", "step_days", "cell_kind", "qa"]
    [provenance.products]                      # names a buyer may see, by SKU
    MUG-01 = "Stoneware mug, ash glaze"

Nothing leaves the floor unless it is named in `public`: never operator names, cell
ids, machines, counts or defect notes (there is no word for them here).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from cellctl.domain.codes import CodeError, check_base_url

PublicField = Literal["product", "edition", "made", "steps", "step_days", "cell_kind", "qa"]
PUBLIC_DEFAULT: tuple[PublicField, ...] = (
    "product", "edition", "made", "steps", "step_days", "cell_kind", "qa",
)  # fmt: skip


class ProvenanceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: str
    public: list[PublicField] = Field(default_factory=lambda: list(PUBLIC_DEFAULT))
    products: dict[str, str] = Field(default_factory=dict)
    maker: str = Field(default="", max_length=120, description="the maker's name on the page")

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            return check_base_url(value)
        except CodeError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("products")
    @classmethod
    def _names(cls, value: dict[str, str]) -> dict[str, str]:
        for sku, name in value.items():
            if not name.strip() or len(name) > 200:
                raise ValueError(f"products.{sku}: a name of 1-200 characters")
        return value
