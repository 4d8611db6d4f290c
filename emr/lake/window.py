"""The unit of work of lake-refresh: a half-open event-time window [start, end), UTC."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

MAX_WINDOW = timedelta(days=7)


def parse_instant(text: str) -> datetime:
    """ISO-8601 with a Z or an offset; returned as an aware UTC datetime."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"{text!r}: a window bound needs a time zone (use Z)")
    return value.astimezone(timezone.utc)


def iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def parse(cls, start: str, end: str) -> "Window":
        window = cls(parse_instant(start), parse_instant(end))
        if window.start >= window.end:
            raise ValueError(f"window start {start} must be before end {end}")
        if window.end - window.start > MAX_WINDOW:
            raise ValueError(f"window {start} .. {end} is longer than 7 days")
        return window

    def hours(self) -> list[datetime]:
        """Every UTC hour that overlaps the window: the raw zone's dt/hour partitions to read."""
        hour = self.start.replace(minute=0, second=0, microsecond=0)
        hours = []
        while hour < self.end:
            hours.append(hour)
            hour += timedelta(hours=1)
        return hours

    def days(self) -> list[str]:
        return sorted({hour.strftime("%Y-%m-%d") for hour in self.hours()})

    def minutes(self) -> int:
        """Whole minutes the window covers (the expected bars per symbol)."""
        return int((self.end - self.start).total_seconds() // 60)

    def __str__(self) -> str:
        return f"{iso(self.start)}..{iso(self.end)}"
