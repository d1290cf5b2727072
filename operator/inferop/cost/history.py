"""What ``decide()`` remembers between ticks: the ``History``. Pure.

What this module is for: the recent recommendations (the stabilization windows read them), the last
scale action (the cooldown), the ready replicas and when they changed (the guard's "the window
predates the ready replicas", the planner's steady intervals), the learned state and the probe being
judged. A tick returns a new ``History`` (``record``); nothing here is mutable. Must not: decide
anything (the rules that read it are in ``cost.guard`` and ``cost.stabilize``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from inferop.cost.state import Learned


@dataclass(frozen=True)
class History:
    """What decide() remembers between ticks: recent (time, recommendation), the last scale action,
    the ready replicas and the planner's learned state."""

    recommendations: tuple[tuple[float, int], ...] = ()
    last_scale_time: float | None = None
    #: The ready replicas of the last tick (None: not known, e.g. after a restart) and when the ready
    #: replicas last increased.
    ready: int | None = None
    ready_rose_at: float | None = None
    #: When the ready replicas last changed (None: never seen).
    ready_since: float | None = None
    #: The planner's learned state (capacity points, load history); ``cost.rebuild`` rebuilds it after
    #: a restart.
    learned: Learned = field(default_factory=Learned)
    #: The capacity per replica the last probe down assumed (None: no probe being judged). It holds
    #: while the fewer replicas it led to are judged by a steady rate window.
    probe: float | None = None

    def record(
        self,
        now: float,
        recommendation: int,
        *,
        scaled: bool,
        keep_seconds: float,
        ready: int | None = None,
        learned: Learned | None = None,
        probe: float | None = None,
    ) -> History:
        """This tick's recommendation (and ready replicas, learned state) appended, old entries dropped."""
        kept = tuple((t, r) for t, r in self.recommendations if t > now - keep_seconds)
        changed = ready is not None and ready != self.ready
        return History(
            recommendations=(*kept, (now, recommendation)),
            last_scale_time=now if scaled else self.last_scale_time,
            ready=self.ready if ready is None else ready,
            ready_rose_at=self.rose_at(now, ready),
            ready_since=now if changed else self.ready_since,
            learned=self.learned if learned is None else learned,
            probe=probe,
        )

    def steady_since(self, now: float, ready: int, seconds: float) -> bool:
        """Whether ``ready`` replicas have been ready (no more, no fewer) for at least ``seconds``."""
        return self.ready == ready and self.ready_since is not None and now - self.ready_since >= seconds

    def rose_at(self, now: float, ready: int | None) -> float | None:
        """When the ready replicas last increased, counting ``ready`` seen at ``now``."""
        if ready is not None and self.ready is not None and ready > self.ready:
            return now
        return self.ready_rose_at

    def within(self, now: float, seconds: float) -> list[int]:
        """Recommendations recorded in the last ``seconds`` (HPA semantics: strictly after the cutoff)."""
        return [r for t, r in self.recommendations if now - seconds < t <= now]

    def covers(self, now: float, seconds: float, interval: float) -> bool:
        """Whether the history reaches back over a window of ``seconds`` (to within one interval)."""
        return seconds <= 0 or any(t <= now - seconds + interval for t, _ in self.recommendations)
