"""The constrained numbers every stored record is typed with (resnet_mnist.runs.schema validates files by them)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

__all__ = ["Count", "Digit", "Finite", "Fraction", "GroupId", "NonNegative"]

Finite = Annotated[float, Field(allow_inf_nan=False)]
NonNegative = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0)]
Digit = Annotated[int, Field(ge=0, le=9)]
# A seed group's id ("g-20261205-043000-a1b2c3", runs/groups.py): a safe name for a file, a flag and a URL.
GroupId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
