"""The guard step: what an observed breach needs now, and what it says about the capacity. Pure.

What this module is for: reading this tick's signals against the SLO and the targets, before the plan
sizes the replicas. The rules are in ``docs/decide.md`` ("Guard"); in short:

- a breaching signal (the attainment under the goal, or the latency over the SLO without the
  attainment, the queue depth or the GPU utilization over its target) needs ``ceil(ready x
  min(max_up_factor, ratio))`` from the ready replicas; an attainment breach's ratio is the latency's
  (``p / SLO``) when a capacity is known, and at least the tail's (``(1 - attainment) / (1 - goal)``)
  while the service is reactive;
- a latency breach at a load per replica under the bracket's lower end is not load-driven: it does
  not raise (more replicas would not cure it);
- the rate window predates the ready replicas when they rose within it (it judges fewer replicas);
- a load-driven breach beyond the window's sampling noise (``cost.capacity.below_goal``), in a window
  that does not predate the replicas, lowers the capacity to the load per replica that breached; a
  load per replica served within the SLO by replicas steady over the window raises it;
- the probe down: steady replicas meeting the SLO with the scale-down line's room, on a service never
  seen breaching within memory, try one replica fewer, and the probe holds until a steady window
  judges the fewer replicas (a breach ends it).

Must not: choose the recommendation (``decide()`` weighs the guard's needs against the plan) or keep
state (the previous probe and ready replicas are passed in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from inferop.api.inferenceservice import Autoscaling
from inferop.cost.capacity import Capacity, below_goal
from inferop.cost.plan import EPSILON, Load
from inferop.cost.reading import Reading
from inferop.cost.tuning import PlannerTuning


def ceil_replicas(value: float) -> int:
    """``ceil(value)``, at least 0, guarded against float noise (2 x 1.5 is 3, not 4)."""
    return max(0, math.ceil(value - EPSILON))


@dataclass(frozen=True)
class Guard:
    """What the guard read from this tick."""

    #: The need of each breaching signal (``latency``, ``queue``, ``gpu``), in replicas; a latency breach
    #: that is not load-driven is left out.
    up: dict[str, int]
    #: Whether the SLO is breached (``Decision.slo_breached``), load-driven or not.
    breached: bool
    #: A latency breach at a load per replica under one already served within the SLO.
    not_load_driven: bool
    #: Whether the attainment is under the goal by more than the window's sampling noise (True when
    #: there is no attainment).
    significant: bool
    #: Whether the rate window predates the ready replicas (they rose within it).
    predates: bool
    #: When the ready replicas last rose, counting this tick (None: not seen).
    rose_at: float | None
    #: The load per ready replica (None: no load or no ready replica).
    per_replica: float | None
    #: The capacity after the breach lowered it, the SLO met raised it and the probe probed it.
    capacity: Capacity | None
    #: The capacity per replica the probe down assumes (None: no probe); ``History.probe`` next.
    probe: float | None


def guard(
    reading: Reading,
    *,
    autoscaling: Autoscaling,
    capacity: Capacity | None,
    load: Load | None,
    ready: int,
    now: float,
    window: float,
    steady: float | None,
    rose_at: float | None,
    previous_ready: int | None,
    previous_probe: float | None,
    metrics_available: bool,
    goal: float,
    attainment_line: float,
    utilization: float,
    tuning: PlannerTuning,
) -> Guard:
    """The guard on this tick's ``reading`` (see the module docstring).

    ``steady``: how long the ``ready`` replicas have been ready (None: they just changed);
    ``rose_at``: when the ready replicas last rose, counting this tick; ``previous_ready`` and
    ``previous_probe``: the last tick's (``History.ready``, ``History.probe``)."""
    slo = autoscaling.slo.latency if autoscaling.slo is not None else None
    targets = autoscaling.targets
    attainment = reading.attainment
    # Proportional needs of the breaching signals, from the ready replicas.
    up: dict[str, int] = {}
    if slo is not None and reading.latency is not None and attainment is not None:
        if attainment < goal:
            # Without a capacity the tail's ratio sizes the raise too; with one, the latency's ratio
            # does and the plan, on the capacity the breach lowers, sizes the rest: the tail's ratio
            # (at 80% attainment 4x the error budget) overstates the missing replicas, and its 3x
            # raise, then slow descent, was the planner's largest cost.
            tail = (1 - attainment) / (1 - goal) if capacity is None else 1.0
            factor = max(reading.latency / slo.target_milliseconds, tail)
            up["latency"] = ceil_replicas(ready * min(tuning.max_up_factor, factor))
    elif slo is not None and reading.latency is not None and reading.latency > slo.target_milliseconds:
        up["latency"] = ceil_replicas(ready * min(tuning.max_up_factor, reading.latency / slo.target_milliseconds))
    if targets is not None and reading.queue is not None and targets.queue_depth_per_replica is not None:
        if reading.queue > targets.queue_depth_per_replica:
            up["queue"] = ceil_replicas(
                ready * min(tuning.max_up_factor, reading.queue / targets.queue_depth_per_replica)
            )
    if targets is not None and reading.gpu is not None and targets.gpu_utilization_percent is not None:
        if reading.gpu > targets.gpu_utilization_percent:
            up["gpu"] = ceil_replicas(ready * min(tuning.max_up_factor, reading.gpu / targets.gpu_utilization_percent))
    # The window predates the ready replicas when they rose within it: it judges fewer replicas.
    predates = rose_at is not None and now - rose_at < window
    # A breach at a load per replica below one already served within the SLO is not load-driven:
    # more replicas would not cure it, so the guard does not raise (the planner still sizes).
    per_replica = load.value / ready if load is not None and ready > 0 else None
    not_load_driven = (
        "latency" in up
        and capacity is not None
        and capacity.lower is not None
        and per_replica is not None
        and per_replica < capacity.lower
    )
    breached = "latency" in up
    if not_load_driven:
        del up["latency"]
    # ... by more than the window's sampling noise (cost.capacity.below_goal): 94.6% of 95 requests
    # against a 95% goal is noise, and the guard's raise is enough for it.
    significant = attainment is None or below_goal(attainment, (reading.rate or 0.0) * window, goal, tuning.sampling_z)
    if "latency" in up and capacity is not None and per_replica is not None and not predates and significant:
        # An observed breach lowers the capacity at once: this load per replica was too much.
        capacity = capacity.lowered(per_replica)

    # A load per replica served within the SLO now, by replicas steady over the window, is at least
    # the capacity (the first points may all be light loads): the plan never raises on a service that
    # meets its SLO at a load it has not planned for yet.
    meets = (
        slo is not None
        and not breached
        and metrics_available
        and (attainment is not None or reading.latency is not None)
    )
    if capacity is not None and meets and per_replica is not None and steady is not None and steady >= window:
        capacity = capacity.raised(per_replica)
    # Probe down: steady replicas that meet the SLO with the scale-down line's room, on a service never
    # seen breaching within memory (no upper end), may try one replica fewer (paced by the scale-down
    # window); a breach there brackets the capacity. Without it a service already sized above its
    # load would never learn that fewer replicas serve it (the points only say what was served).
    probe: float | None = None
    if (
        capacity is not None
        and meets
        and capacity.upper is None
        and attainment is not None
        and attainment >= attainment_line
        and steady is not None
        and steady >= window
        and ready >= 2
        and load is not None
    ):
        probe = load.value / ((ready - 1) * utilization)
    # The probe holds until a steady window judges the fewer replicas it led to: the window mixes two
    # counts until then (without this the plan went back up at once, and the probe flapped 4-3-4). A
    # breach ends it (the guard raises, and the breach brackets the capacity).
    judging = (previous_ready is not None and ready < previous_ready) or (steady is not None and steady < window)
    if probe is None and previous_probe is not None and judging and not breached and meets:
        probe = previous_probe
    if capacity is not None and probe is not None:
        capacity = capacity.probed(probe)
        if capacity.upper is not None:
            probe = None
    return Guard(
        up=up,
        breached=breached,
        not_load_driven=not_load_driven,
        significant=significant,
        predates=predates,
        rose_at=rose_at,
        per_replica=per_replica,
        capacity=capacity,
        probe=probe,
    )
