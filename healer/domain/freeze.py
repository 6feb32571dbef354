"""Change freezes: windows in which the healer changes nothing, whatever the rules say."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo


@dataclass(frozen=True)
class FreezeWindow:
    """A change freeze: nothing runs while it is on.

    Either absolute (`start` to `end`), or weekly: on each of `days` (Monday is 0) from
    `start_time` to `end_time` in `tz`; an end at or before the start ends the next day,
    so equal times freeze whole days.
    """

    name: str
    start: datetime | None = None
    end: datetime | None = None
    days: frozenset[int] = frozenset()
    start_time: time = time(0)
    end_time: time = time(0)
    tz: tzinfo = UTC

    def until(self, now: datetime) -> datetime | None:
        """When the freeze that is on at `now` ends, or None when none is on."""
        if self.days:
            return self._weekly_until(now)
        if self.start is not None and self.end is not None and self.start <= now < self.end:
            return self.end
        return None

    def _weekly_until(self, now: datetime) -> datetime | None:
        local = now.astimezone(self.tz)
        end: datetime | None = None
        # Back-to-back days (a weekend) read as one freeze, so report its real end.
        for start, stop in self._occurrences(local.date() - timedelta(days=1), 9):
            if (end is None and start <= local < stop) or (end is not None and start <= end):
                end = max(stop, end or stop)
            elif end is not None:
                break
        return end

    def _occurrences(self, first: date, count: int) -> list[tuple[datetime, datetime]]:
        found = []
        for offset in range(count):
            day = first + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            start = datetime.combine(day, self.start_time, self.tz)
            end = datetime.combine(day, self.end_time, self.tz)
            found.append((start, end if end > start else end + timedelta(days=1)))
        return found
