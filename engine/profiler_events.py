"""The profiler's events and their table: what ``key_averages().table()`` prints.

Pure data and formatting (no tensors, no autograd), shared by the engine's profiler
(``engine.profiler``) and the client's, which builds the same events from the times the
server reports, so both print alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["EventList", "FunctionEvent", "FunctionEventAvg", "ProfileResults"]


@dataclass
class FunctionEvent:
    """One recorded op call (times in microseconds, like torch's)."""

    name: str
    start_us: float
    cpu_time_total: float
    input_shapes: list[list[int]] = field(default_factory=list)
    count: int = 1

    @property
    def self_cpu_time_total(self) -> float:
        return self.cpu_time_total

    @property
    def key(self) -> str:
        return self.name


@dataclass
class FunctionEventAvg:
    """Every event of one name, summed (what ``key_averages`` lists)."""

    key: str
    count: int = 0
    cpu_time_total: float = 0.0
    self_cpu_time_total: float = 0.0

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total / self.count if self.count else 0.0

    def add(self, e: FunctionEvent) -> None:
        self.count += 1
        self.cpu_time_total += e.cpu_time_total
        self.self_cpu_time_total += e.self_cpu_time_total


def _fmt_us(us: float) -> str:
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


class EventList(list):
    """Recorded events (a list), with torch's ``key_averages`` and ``table``."""

    def key_averages(self, group_by_input_shape: bool = False) -> EventList:
        groups: dict[Any, FunctionEventAvg] = {}
        for e in self:
            key = (e.name, str(e.input_shapes)) if group_by_input_shape else e.name
            groups.setdefault(key, FunctionEventAvg(e.name)).add(e)
        return EventList(groups.values())

    @property
    def self_cpu_time_total(self) -> float:
        return sum(e.self_cpu_time_total for e in self)

    def table(self, sort_by: str | None = None, row_limit: int = 100, **_: Any) -> str:
        rows = list(self)
        if sort_by is not None:
            attr = sort_by.removeprefix("cpu_").replace("self_", "self_cpu_")
            key = sort_by if hasattr(rows[0] if rows else None, sort_by) else attr
            if rows and hasattr(rows[0], key):
                rows.sort(key=lambda e: getattr(e, key), reverse=True)
        rows = rows[:row_limit]
        total = self.self_cpu_time_total or 1.0
        head = ["Name", "Self CPU %", "Self CPU", "CPU total", "CPU time avg", "# of Calls"]
        body = []
        for e in rows:
            count = e.count
            body.append(
                [
                    e.key,
                    f"{100 * e.self_cpu_time_total / total:.2f}%",
                    _fmt_us(e.self_cpu_time_total),
                    _fmt_us(e.cpu_time_total),
                    _fmt_us(e.cpu_time_total / count if count else 0.0),
                    str(count),
                ]
            )
        widths = [max(len(r[i]) for r in [head, *body]) for i in range(len(head))]
        sep = "  ".join("-" * w for w in widths)

        def line(r: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(r, widths, strict=True))
            )

        out = [sep, line(head), sep, *(line(r) for r in body), sep]
        out.append(f"Self CPU time total: {_fmt_us(self.self_cpu_time_total)}")
        return "\n".join(out) + "\n"

    def total_average(self) -> FunctionEventAvg:
        avg = FunctionEventAvg("Total")
        for e in self:
            avg.count += e.count
            avg.cpu_time_total += e.cpu_time_total
            avg.self_cpu_time_total += e.self_cpu_time_total
        return avg


class ProfileResults:
    """What a finished ``profile`` answers from its ``function_events`` (in process and
    through the client alike): torch's ``events``, ``key_averages``, ``table``, totals."""

    function_events: EventList

    def events(self) -> EventList:
        return self.function_events

    def key_averages(self, group_by_input_shape: bool = False) -> EventList:
        return self.function_events.key_averages(group_by_input_shape)

    def table(self, **kw: Any) -> str:
        return self.function_events.table(**kw)

    @property
    def self_cpu_time_total(self) -> float:
        return self.function_events.self_cpu_time_total

    def __str__(self) -> str:
        return self.table()
