"""The virtual trial's calendar: what happens on which study day, in a fixed order.

Days are whole days since the study start (day 0). On one day, screenings come first, then the
sites' visits (each subject's forms of the day, by the site user who enters them), then the
committee; ties keep the order in which they were scheduled — so the same seed always plays
the same trial.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

#: order of the kinds of events within one day
SCREENING, VISIT, COMMITTEE = 0, 1, 2


@dataclass(order=True)
class _Event:
    day: int
    rank: int
    seq: int
    action: Callable[[int], None] = field(compare=False)


class Calendar:
    """A day-by-day queue of actions; :meth:`run` plays them in order until none is left.

    Example
    -------
    >>> cal = Calendar(date(2024, 3, 4))
    >>> seen = []
    >>> cal.schedule(3, VISIT, lambda day: seen.append(("visit", day)))
    >>> cal.schedule(3, SCREENING, lambda day: seen.append(("screening", day)))
    >>> cal.run()
    >>> seen
    [('screening', 3), ('visit', 3)]
    """

    def __init__(self, start: date) -> None:
        self.start = start
        self.today = 0
        self._queue: list[_Event] = []
        self._seq = 0

    def date(self, day: float) -> date:
        """The calendar date of study day ``day`` (rounded to a whole day)."""
        return self.start + timedelta(days=int(round(day)))

    def iso(self, day: float) -> str:
        return self.date(day).isoformat()

    def schedule(self, day: int, rank: int, action: Callable[[int], None]) -> None:
        """Do ``action(day)`` on ``day`` (never before today: the past is not rewritten)."""
        if day < self.today:
            raise ValueError(f"day {day} is before today (day {self.today})")
        self._seq += 1
        heapq.heappush(self._queue, _Event(day, rank, self._seq, action))

    @property
    def last_day(self) -> int:
        """The latest day anything is scheduled for (today when nothing is)."""
        return max((e.day for e in self._queue), default=self.today)

    def run(self, progress: Callable[[int, int], None] | None = None) -> None:
        """Play every scheduled action in order (actions may schedule more)."""
        while self._queue:
            event = heapq.heappop(self._queue)
            self.today = event.day
            event.action(event.day)
            if progress is not None:
                progress(self.today, self.last_day)
