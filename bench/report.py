"""Statistics over rounds and the printed tables (Markdown, so they paste into the README)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

from bench.load import LoadResult


@dataclass
class Series:
    """One (scenario, server) pair measured once per round."""

    scenario: str
    server: str
    results: list[LoadResult] = field(default_factory=list)
    unit_scale: float = 1.0  # e.g. 500 for lines/s from req/s of 500-line batches

    @property
    def rates(self) -> list[float]:
        return [result.rps * self.unit_scale for result in self.results]

    @property
    def median(self) -> float:
        return statistics.median(self.rates) if self.results else 0.0

    @property
    def errors(self) -> int:
        return sum(result.errors for result in self.results)

    def p50(self) -> float:
        return statistics.median(result.p50_ms for result in self.results)

    def p99(self) -> float:
        return statistics.median(result.p99_ms for result in self.results)


@dataclass
class Target:
    name: str
    goal: str
    value: float | None  # None: skipped
    threshold: float
    shown: str
    note: str = ""
    report_only: bool = False  # a figure the run reports, with no goal to pass or fail

    @property
    def verdict(self) -> str:
        if self.value is None:
            return "SKIP"
        if self.report_only:
            return "REPORT"
        return "PASS" if self.value >= self.threshold else "FAIL"


def ratio_range(numerator: Series, denominator: Series) -> tuple[float, float, float]:
    """Median of the ratio of medians, and the range of the per-round ratios."""
    per_round = [n / d for n, d in zip(numerator.rates, denominator.rates, strict=False) if d]
    if not per_round or not denominator.median:
        return 0.0, 0.0, 0.0
    return numerator.median / denominator.median, min(per_round), max(per_round)


def _num(value: float) -> str:
    return f"{value:,.0f}"


def print_series(series: list[Series], unit: str = "req/s") -> None:
    print(f"\n| scenario | server | {unit} median | range | p50 ms | p99 ms | errors |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for s in series:
        if not s.results:
            continue
        rates = s.rates
        print(
            f"| {s.scenario} | {s.server} | {_num(s.median)} | "
            f"{_num(min(rates))}-{_num(max(rates))} | {s.p50():.2f} | {s.p99():.2f} | {s.errors} |"
        )


def print_targets(targets: list[Target]) -> None:
    print("\n| target | goal | measured | result |")
    print("| --- | --- | ---: | --- |")
    for target in targets:
        shown = target.shown if target.value is not None else "—"
        note = f" ({target.note})" if target.note else ""
        print(f"| {target.name} | {target.goal} | {shown} | {target.verdict}{note} |")
