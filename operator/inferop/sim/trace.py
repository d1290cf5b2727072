"""Parse request traces in the two shared formats into one list of requests. Pure, seeded.

The rows come from the caller (``inferop.cli.files.load_trace`` reads the CSV file); ``source`` (the
file's path) only names the file in errors.

Formats (``../shared/data/traces/README.md``):

- Request traces, header ``arrival_s,input_tokens,output_tokens``: one row per request, used as is.
- Rate traces, header ``category_model,window_start_s,total_rate_rps,active_clients,
  max_client_rate_rps,rate_weighted_mean_cv``: one row per window (10 minutes in ServeGen). Arrivals
  inside a window are a Gamma renewal process with the window's rate and coefficient of variation
  (shape ``1/cv^2``), restarted at each window start. Token counts are not given and are drawn from
  log-normal distributions fitted to the Azure 2023 conversation trace (log-mean/log-sd of the input
  6.633/0.985, median 760 tokens; output 5.019/0.859, median 151 tokens), rounded half to even and
  clipped to [1, 16384] and [1, 4096]. Everything is drawn in order from one ChaCha8 stream seeded
  with the seed, compiled (``simcore``): a day at hundreds of requests per second is tens of millions
  of draws.

Scaling, always stated in the results: ``start``/``duration`` cut a time range out of the trace
(arrivals are shifted so the range starts at 0). ``rate_scale`` below 1 keeps each request with that
probability (independent thinning, as if that fraction of the users sent requests); above 1 a request
trace is replayed ``floor(scale)`` times (plus once more with probability ``frac(scale)``), every
copy but the first shifted by a uniform offset in [0, 60 s): more users with the same behaviour, the
minute-scale load curve kept, sub-minute bursts not stacked on the same second (copies shifted past
the end are dropped). For a rate trace the scale multiplies the rate; below 1 thinning is applied to
the process itself: a Gamma renewal process with rate ``r`` and
coefficient of variation ``c`` thinned with probability ``p`` has rate ``p r`` and squared
coefficient of variation ``p c^2 + 1 - p``, so the windows are generated with those.

Must not: read the clock or a file, or use an unseeded random generator.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

from inferop.sim import engine

REQUEST_HEADER = ("arrival_s", "input_tokens", "output_tokens")
RATE_HEADER = (
    "category_model",
    "window_start_s",
    "total_rate_rps",
    "active_clients",
    "max_client_rate_rps",
    "rate_weighted_mean_cv",
)

#: Log-normal token distributions for rate traces (fitted to azure2023_conv.csv, see the docstring).
INPUT_LOGNORMAL = (6.633, 0.985)
OUTPUT_LOGNORMAL = (5.019, 0.859)
MAX_INPUT_TOKENS = 16384
MAX_OUTPUT_TOKENS = 4096
#: Rate scaling above 1 replays copies of a request trace, each shifted by up to this many seconds.
COPY_SHIFT_SECONDS = 60.0
MAX_RATE_SCALE = 1000.0


class TraceError(ValueError):
    """Bad trace input; ``option`` names the ``inferop simulate`` flag it is about, when not the file."""

    def __init__(self, message: str, option: str | None = None) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True)
class Window:
    start: float
    length: float
    rate: float
    cv: float


@dataclass
class Trace:
    """Requests sorted by arrival (seconds from the start), and what was done to the source file."""

    name: str
    kind: str  # "requests" or "rate"
    #: Lists for a request trace; compact arrays (float64, int64) for a drawn rate trace.
    arrival: Sequence[float]
    input_tokens: Sequence[int]
    output_tokens: Sequence[int]
    duration: float
    #: Rate traces only: the windows after scaling (for plots and the oracle).
    windows: list[Window]
    #: How the source was cut and scaled, in words (for summary.md).
    scaling: str

    def __len__(self) -> int:
        return len(self.arrival)

    def head(self, seconds: float) -> Trace:
        """The trace's first ``seconds`` only (the burn-in a baseline is tuned on, as a user tunes on the past)."""
        hi = self.slice(0.0, seconds)[1]
        windows = [
            Window(w.start, min(w.length, seconds - w.start), w.rate, w.cv) for w in self.windows if w.start < seconds
        ]
        return Trace(
            self.name,
            self.kind,
            self.arrival[:hi],
            self.input_tokens[:hi],
            self.output_tokens[:hi],
            min(seconds, self.duration),
            windows,
            f"{self.scaling}, its first {seconds:g} s",
        )

    def slice(self, start: float, end: float) -> tuple[int, int]:
        """Index range [lo, hi) of the requests arriving in [start, end)."""
        import bisect

        return bisect.bisect_left(self.arrival, start), bisect.bisect_left(self.arrival, end)


def _number(path: str, line: int, column: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TraceError(f"{path}:{line}: {column} is not a number: {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise TraceError(f"{path}:{line}: {column} must be a finite number >= 0, got {text!r}")
    return value


def _describe(start: float, duration: float | None, rate_scale: float) -> str:
    parts = []
    if start > 0 or duration is not None:
        end = "end" if duration is None else f"{start + duration:g} s"
        parts.append(f"time range {start:g} s to {end}")
    if rate_scale < 1:
        parts.append(f"rate x{rate_scale:g} (thinning)")
    elif rate_scale > 1:
        parts.append(f"rate x{rate_scale:g} (shifted copies)")
    return ", ".join(parts) or "as recorded"


def parse_trace(
    source: str,
    header: list[str],
    rows: list[list[str]],
    *,
    name: str | None = None,
    seed: int = 0,
    rate_scale: float = 1.0,
    start: float = 0.0,
    duration: float | None = None,
    category: str | None = None,
) -> Trace:
    """A trace of either format from its CSV ``header`` and ``rows`` (as in the file ``source``, whose
    second line is ``rows[0]``). Raises TraceError naming the file and line.

    ``name``: the trace's name (default ``source``); ``category``: the ``category_model`` to replay from
    a rate trace that holds several.
    """
    path = source
    if not 0 < rate_scale <= MAX_RATE_SCALE:
        raise TraceError(f"rate scale must be in (0, {MAX_RATE_SCALE:g}], got {rate_scale:g}")
    if start < 0 or (duration is not None and duration <= 0):
        raise TraceError("the time range must start at >= 0 and have a positive duration")
    rng = random.Random(seed)
    scaling = _describe(start, duration, rate_scale)
    if tuple(header[:3]) == REQUEST_HEADER:
        if category is not None:
            raise TraceError(
                f"{path}: a category selects a model of a rate trace; this is a request trace", "--category"
            )
        trace = _requests(path, name or source, rows, rng, rate_scale, start, duration, scaling)
    elif tuple(header[: len(RATE_HEADER)]) == RATE_HEADER:
        trace = _rates(path, name or source, rows, seed, rate_scale, start, duration, scaling, category)
    else:
        raise TraceError(
            f"{path}: unknown header {','.join(header)!r}: expected {','.join(REQUEST_HEADER)!r} "
            f"or {','.join(RATE_HEADER)!r}"
        )
    if not trace.arrival:
        raise TraceError(f"{path}: no requests in the selected time range")
    return trace


def _requests(
    path: str,
    name: str,
    rows: list[list[str]],
    rng: random.Random,
    rate_scale: float,
    start: float,
    duration: float | None,
    scaling: str,
) -> Trace:
    parsed: list[tuple[float, int, int]] = []
    for line, row in enumerate(rows, start=2):
        if len(row) < 3:
            raise TraceError(f"{path}:{line}: expected 3 columns, got {len(row)}")
        at = _number(path, line, "arrival_s", row[0])
        inp = int(_number(path, line, "input_tokens", row[1]))
        out = int(_number(path, line, "output_tokens", row[2]))
        parsed.append((at, inp, max(1, out)))
    parsed.sort(key=lambda r: r[0])
    end = math.inf if duration is None else start + duration
    if duration is None:
        last = parsed[-1][0] - start if parsed else 0.0
        total = float(math.ceil(max(last, 0.0) + 1e-9)) or 1.0
    else:
        total = duration
    selected: list[tuple[float, int, int]] = []
    whole = math.floor(rate_scale)
    for t, inp, out in parsed:
        if not start <= t < end:
            continue
        copies = whole + (1 if rng.random() < rate_scale - whole else 0)
        for copy in range(copies):
            shifted = t - start + (rng.uniform(0.0, COPY_SHIFT_SECONDS) if copy else 0.0)
            if shifted < total:
                selected.append((shifted, inp, out))
    selected.sort(key=lambda r: r[0])
    arrival = [r[0] for r in selected]
    inputs = [r[1] for r in selected]
    outputs = [r[2] for r in selected]
    return Trace(name, "requests", arrival, inputs, outputs, total, [], scaling)


def categories(path: str, rows: list[list[str]]) -> list[str]:
    """The values of a rate trace's ``category_model`` column, in order of first appearance."""
    found: dict[str, None] = {}
    for line, row in enumerate(rows, start=2):
        if len(row) < len(RATE_HEADER):
            raise TraceError(f"{path}:{line}: expected {len(RATE_HEADER)} columns, got {len(row)}")
        found.setdefault(row[0].strip(), None)
    return list(found)


def _windows(path: str, rows: list[list[str]], category: str | None = None) -> list[Window]:
    """The rate windows of one category as recorded: start (from the first window), length, rate, cv.

    A file with several categories (ServeGen publishes one row per model and window) needs ``category``.
    """
    found = categories(path, rows)
    listed = ", ".join(found)
    if category is None and len(found) > 1:
        raise TraceError(
            f"{path}: the trace holds {len(found)} categories ({listed}); choose one with --category NAME", "--category"
        )
    numbered = list(enumerate(rows, start=2))
    if category is not None:
        if category not in found:
            raise TraceError(
                f"{path}: category {category!r} is not in the trace; categories found: {listed}", "--category"
            )
        numbered = [(line, row) for line, row in numbered if row[0].strip() == category]
    raw: list[tuple[float, float, float]] = []
    for line, row in numbered:
        window_start = _number(path, line, "window_start_s", row[1])
        rate = _number(path, line, "total_rate_rps", row[2])
        cv = _number(path, line, "rate_weighted_mean_cv", row[5])
        raw.append((window_start, rate, cv if cv > 0 else 1.0))
    raw.sort()
    for (a, _, _), (b, _, _) in zip(raw, raw[1:], strict=False):
        if b <= a:
            raise TraceError(f"{path}: two windows start at {a:g} s")
    lengths = [b[0] - a[0] for a, b in zip(raw, raw[1:], strict=False)]
    lengths.append(lengths[-1] if lengths else 600.0)
    first = raw[0][0] if raw else 0.0
    return [Window(start - first, length, rate, cv) for (start, rate, cv), length in zip(raw, lengths, strict=True)]


def parse_rate_windows(
    path: str, header: list[str], rows: list[list[str]], category: str | None = None
) -> list[Window]:
    """The windows of a rate trace as recorded (no scaling), from its CSV rows. Raises TraceError."""
    if tuple(header[: len(RATE_HEADER)]) != RATE_HEADER:
        raise TraceError(f"{path}: not a rate trace (header {','.join(header)!r})")
    return _windows(path, rows, category)


def _rates(
    path: str,
    name: str,
    rows: list[list[str]],
    seed: int,
    rate_scale: float,
    start: float,
    duration: float | None,
    scaling: str,
    category: str | None = None,
) -> Trace:
    end = math.inf if duration is None else start + duration
    windows: list[Window] = []
    for recorded in _windows(path, rows, category):
        lo = max(recorded.start, start)
        hi = min(recorded.start + recorded.length, end)
        if hi <= lo:
            continue
        cv = recorded.cv
        # Thinning keeps p c^2 + 1 - p; a superposition of k independent copies keeps c^2 (k > 1).
        scaled_cv = math.sqrt(rate_scale * cv * cv + 1 - rate_scale) if rate_scale < 1 else cv
        windows.append(Window(lo - start, hi - lo, recorded.rate * rate_scale, scaled_cv))
    # Compiled (simcore): a day at hundreds of requests per second is tens of millions of draws.
    drawn = engine.draw_rate_trace(
        [(w.start, w.length, w.rate, w.cv) for w in windows],
        seed,
        (*INPUT_LOGNORMAL, MAX_INPUT_TOKENS),
        (*OUTPUT_LOGNORMAL, MAX_OUTPUT_TOKENS),
    )
    arrival, inputs, outputs = drawn
    total = windows[-1].start + windows[-1].length if windows else 0.0
    return Trace(name, "rate", arrival, inputs, outputs, total, windows, scaling)
