"""Party-fee amounts (đảng phí) from a versioned configuration, never from constants in code.

The shipped ``fee_rates.toml`` holds the rates and the regional minimum wages, each with the
date it takes effect; a month uses the newest entry on or before its first day, so adding the
2028 change (or a new wage decree) is a config edit and past months keep their amounts.
Pure functions, no I/O besides ``load_fee_config``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, TypeVar

from storage.models import FeeBasisKind

DEFAULT_FEE_RATES = Path(__file__).parent / "fee_rates.toml"
REGIONS = (1, 2, 3, 4)
_REGION_KEYS = {"I": 1, "II": 2, "III": 3, "IV": 4}
REDUCTIONS = (30, 50, 70, 100)  # percent off; 100 is an exemption
_Entry = TypeVar("_Entry", "FeeRates", "MinimumWages")


class FeeConfigError(ValueError):
    """The fee configuration file is missing a part or holds a bad value."""


@dataclass(frozen=True, slots=True)
class FeeRates:
    starts: date
    salary: Decimal
    pension: Decimal
    min_wage_working_age: Decimal
    min_wage_retirement_age: Decimal


@dataclass(frozen=True, slots=True)
class MinimumWages:
    starts: date
    by_region: dict[int, int]


@dataclass(frozen=True, slots=True)
class FeeBasis:
    """What a member's fee is worked out from, from ``valid_from`` (a month's first day) on.
    ``amount`` is the monthly salary or pension (personal: stored encrypted)."""

    kind: FeeBasisKind
    valid_from: date
    amount: int | None = None
    region: int | None = None
    retirement_age: bool = False


@dataclass(frozen=True, slots=True)
class FeeReduction:
    """``percent`` off for the months ``from_month`` to ``to_month`` (open-ended if None)."""

    percent: int
    from_month: date
    to_month: date | None = None

    def covers(self, month: date) -> bool:
        return self.from_month <= month and (self.to_month is None or month <= self.to_month)


def month_start(day: date) -> date:
    return day.replace(day=1)


def _newest(entries: Sequence[_Entry], month: date) -> _Entry:
    fitting = [entry for entry in entries if entry.starts <= month]
    if not fitting:
        raise FeeConfigError(f"no fee configuration in force for {month:%m/%Y}")
    return max(fitting, key=lambda entry: entry.starts)


@dataclass(frozen=True, slots=True)
class FeeConfig:
    round_to: int
    rates: tuple[FeeRates, ...]
    minimum_wages: tuple[MinimumWages, ...]

    def rates_for(self, month: date) -> FeeRates:
        return _newest(self.rates, month_start(month))

    def minimum_wage(self, region: int, month: date) -> int:
        return _newest(self.minimum_wages, month_start(month)).by_region[region]

    def base_amount(self, basis: FeeBasis, month: date) -> int:
        """The monthly fee before any reduction."""
        rates = self.rates_for(month)
        if basis.kind is FeeBasisKind.SALARY:
            return self._round(Decimal(basis.amount or 0) * rates.salary)
        if basis.kind is FeeBasisKind.PENSION:
            return self._round(Decimal(basis.amount or 0) * rates.pension)
        if basis.region not in REGIONS:
            raise FeeConfigError(f"unknown region {basis.region!r}")
        share = (
            rates.min_wage_retirement_age if basis.retirement_age else rates.min_wage_working_age
        )
        return self._round(Decimal(self.minimum_wage(basis.region, month)) * share)

    def amount_due(
        self, bases: Sequence[FeeBasis], reductions: Sequence[FeeReduction], month: date
    ) -> int | None:
        """What the member owes for ``month``: the basis in force then, less the largest
        reduction covering it. None when no basis was recorded for that month yet."""
        month = month_start(month)
        in_force = [basis for basis in bases if basis.valid_from <= month]
        if not in_force:
            return None
        basis = max(in_force, key=lambda item: item.valid_from)
        amount = self.base_amount(basis, month)
        off = max((item.percent for item in reductions if item.covers(month)), default=0)
        return self._round(Decimal(amount) * (100 - off) / 100)

    def _round(self, value: Decimal) -> int:
        step = Decimal(self.round_to)
        return int((value / step).quantize(Decimal(1), rounding=ROUND_HALF_UP) * step)


def _decimal(entry: dict[str, Any], key: str) -> Decimal:
    try:
        value = Decimal(str(entry[key]))
    except (KeyError, ArithmeticError) as exc:
        raise FeeConfigError(f"rate {key!r} missing or not a number") from exc
    if not Decimal(0) <= value < Decimal(1):
        raise FeeConfigError(f"rate {key!r} must be a share between 0 and 1")
    return value


def _starts(entry: dict[str, Any]) -> date:
    value = entry.get("from")
    if not isinstance(value, date):
        raise FeeConfigError("every entry needs a `from` date (YYYY-MM-DD)")
    return value


def parse_fee_config(text: str) -> FeeConfig:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FeeConfigError(f"not valid TOML: {exc}") from exc
    rates = tuple(
        FeeRates(
            starts=_starts(entry),
            salary=_decimal(entry, "salary"),
            pension=_decimal(entry, "pension"),
            min_wage_working_age=_decimal(entry, "min_wage_working_age"),
            min_wage_retirement_age=_decimal(entry, "min_wage_retirement_age"),
        )
        for entry in raw.get("rates", [])
    )
    wages = []
    for entry in raw.get("minimum_wages", []):
        by_region = {number: entry.get(key) for key, number in _REGION_KEYS.items()}
        if not all(isinstance(value, int) and value > 0 for value in by_region.values()):
            raise FeeConfigError("minimum wages need positive whole amounts for I, II, III, IV")
        wages.append(MinimumWages(_starts(entry), {k: int(v or 0) for k, v in by_region.items()}))
    round_to = raw.get("round_to", 1)
    if not rates or not wages or not isinstance(round_to, int) or round_to < 1:
        raise FeeConfigError("the fee configuration needs rates, minimum_wages and round_to >= 1")
    return FeeConfig(round_to, rates, tuple(wages))


def load_fee_config(path: Path | None = None) -> FeeConfig:
    return parse_fee_config((path or DEFAULT_FEE_RATES).read_text(encoding="utf-8"))


def format_vnd(amount: int) -> str:
    """Vietnamese money: "100.000 đ"."""
    sign = "-" if amount < 0 else ""
    return f"{sign}{abs(amount):,} đ".replace(",", ".")
