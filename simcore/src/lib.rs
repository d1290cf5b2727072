//! The service model of `inferop simulate`, compiled: vLLM replicas with continuous batching, pods
//! with a cold start, a round-robin Service, and what the pods cost.
//!
//! This is the only implementation of the model; `operator/inferop/sim/engine.py` documents it
//! (its module docstring is the specification) and wraps this `Core` for the rest of the simulator.
//! Every arithmetic step is written in the order the model's documentation states it, so that a run
//! is deterministic for its inputs.

use pyo3::buffer::PyBuffer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Gamma, LogNormal};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::Arc;

const STARTING: u8 = 0;
const READY: u8 = 1;
const DRAINING: u8 = 2;
const STOPPED: u8 = 3;

/// A min-heap entry ordered by (key, id), as Python's heapq orders tuples.
#[derive(Clone, Copy, PartialEq)]
struct Entry(f64, usize);

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: BinaryHeap is a max-heap.
        other.0.total_cmp(&self.0).then_with(|| other.1.cmp(&self.1))
    }
}

#[derive(Clone, Copy)]
struct Params {
    base: f64,
    per_seq: f64,
    per_ctx: f64,
    per_prefill: f64,
    max_seqs: usize,
    kv_cap: i64,
}

/// One engine: waiting queue, prefill FIFO, decoding set.
struct Replica {
    t: f64,
    v: f64,
    stall_until: f64,
    prefill: VecDeque<(f64, usize)>,
    heap: BinaryHeap<Entry>,
    n_dec: usize,
    ctx: f64,
    waiting: VecDeque<usize>,
    kv: i64,
    busy: f64,
    inflight_area: f64,
    buckets: Vec<u64>,
    completed: u64,
    /// Prompt and generated tokens of the completed requests (vLLM's `vllm:prompt_tokens_total` and
    /// `vllm:generation_tokens_total`, counted when the request completes).
    prompt_tokens: u64,
    generation_tokens: u64,
    empty_at: f64,
}

/// The requests of a trace: arrival (seconds), prompt and output tokens, indexed by request id.
///
/// The columns are read in place from the Python buffers they were built from (`array.array`s of
/// float64 and int64): a week of a rate trace is tens of millions of requests, too many to copy for
/// every process. `_keep` holds the buffers (and with them the Python objects) alive and unresizable
/// while any view of them exists; a sub-range (`Workload.slice`) shares them.
struct Columns {
    arrival: &'static [f64],
    input: &'static [i64],
    output: &'static [i64],
    _keep: Arc<(Option<PyBuffer<f64>>, Option<PyBuffer<i64>>, Option<PyBuffer<i64>>)>,
}

/// A buffer's items in place; `None` for an empty one (Python may give it no aligned memory at all).
fn column<T: pyo3::buffer::Element>(
    values: &Bound<'_, PyAny>,
    name: &str,
) -> PyResult<(Option<PyBuffer<T>>, &'static [T])> {
    if values.len()? == 0 {
        return Ok((None, &[]));
    }
    let buffer = PyBuffer::<T>::get(values)?;
    if !buffer.is_c_contiguous() || buffer.dimensions() != 1 {
        return Err(PyValueError::new_err(format!("{name} must be a one-dimensional contiguous buffer")));
    }
    // Safety: the buffer stays exported (its memory valid and its object unresizable) for as long as
    // the `Arc` in `Columns::_keep` that owns it, which outlives every slice handed out here.
    let items = unsafe { std::slice::from_raw_parts(buffer.buf_ptr() as *const T, buffer.item_count()) };
    Ok((Some(buffer), items))
}

/// A trace's requests, shared (not copied) by every run over them.
#[pyclass(frozen, module = "inferop_simcore._core")]
pub struct Workload {
    cols: Arc<Columns>,
}

#[pymethods]
impl Workload {
    /// From three buffers: arrival (float64), prompt and output tokens (int64), of equal length.
    #[new]
    fn py_new(
        arrival: &Bound<'_, PyAny>,
        input_tokens: &Bound<'_, PyAny>,
        output_tokens: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let (ka, a) = column::<f64>(arrival, "arrival")?;
        let (ki, i) = column::<i64>(input_tokens, "input_tokens")?;
        let (ko, o) = column::<i64>(output_tokens, "output_tokens")?;
        if i.len() != a.len() || o.len() != a.len() {
            return Err(PyValueError::new_err("arrival, input_tokens and output_tokens differ in length"));
        }
        let keep = Arc::new((ka, ki, ko));
        Ok(Workload { cols: Arc::new(Columns { arrival: a, input: i, output: o, _keep: keep }) })
    }

    /// The requests `[lo, hi)` as a workload of their own (request ids from 0), without a copy.
    fn slice(&self, lo: usize, hi: usize) -> PyResult<Workload> {
        let c = &self.cols;
        if lo > hi || hi > c.arrival.len() {
            return Err(PyValueError::new_err(format!("no request range [{lo}, {hi})")));
        }
        let cols = Columns {
            arrival: &c.arrival[lo..hi],
            input: &c.input[lo..hi],
            output: &c.output[lo..hi],
            _keep: Arc::clone(&c._keep),
        };
        Ok(Workload { cols: Arc::new(cols) })
    }

    fn __len__(&self) -> usize {
        self.cols.arrival.len()
    }
}

/// The requests of one run and their outcomes.
struct Requests {
    cols: Arc<Columns>,
    ttft: Vec<f64>,
    e2e: Vec<f64>,
}

fn bucket(bounds: &[f64], value: f64) -> usize {
    // Python's bisect_left: the first bound >= value.
    bounds.partition_point(|b| *b < value)
}

impl Replica {
    fn new(buckets: usize, t: f64) -> Self {
        Replica {
            t,
            v: 0.0,
            stall_until: 0.0,
            prefill: VecDeque::new(),
            heap: BinaryHeap::new(),
            n_dec: 0,
            ctx: 0.0,
            waiting: VecDeque::new(),
            kv: 0,
            busy: 0.0,
            inflight_area: 0.0,
            buckets: vec![0; buckets],
            completed: 0,
            prompt_tokens: 0,
            generation_tokens: 0,
            empty_at: t,
        }
    }

    fn held(&self) -> usize {
        self.n_dec + self.prefill.len() + self.waiting.len()
    }

    fn admit(&mut self, p: &Params, req: &Requests) {
        while let Some(&rid) = self.waiting.front() {
            if self.n_dec + self.prefill.len() >= p.max_seqs {
                break;
            }
            let mut need = req.cols.input[rid] + req.cols.output[rid];
            if need > p.kv_cap {
                need = p.kv_cap;
            }
            if self.kv + need > p.kv_cap {
                break;
            }
            self.waiting.pop_front();
            self.kv += need;
            let begin = if self.stall_until > self.t { self.stall_until } else { self.t };
            self.stall_until = begin + (req.cols.input[rid] as f64) * p.per_prefill;
            self.prefill.push_back((self.stall_until, rid));
        }
    }

    fn enqueue(&mut self, p: &Params, req: &Requests, rid: usize) {
        self.waiting.push_back(rid);
        self.admit(p, req);
    }

    /// Run the engine up to `until`, recording every completion on the way.
    fn advance(&mut self, p: &Params, req: &mut Requests, bounds: &[f64], metric_ttft: bool, until: f64) {
        if until <= self.t {
            return;
        }
        let mut t = self.t;
        while t < until {
            let held = self.held() as f64;
            if let Some(&(ready, rid)) = self.prefill.front() {
                let step_end = if ready < until { ready } else { until };
                let dt = step_end - t;
                self.busy += dt;
                self.inflight_area += held * dt;
                t = step_end;
                if ready > until {
                    break;
                }
                self.prefill.pop_front();
                let ttft = ready - req.cols.arrival[rid];
                req.ttft[rid] = ttft;
                if metric_ttft {
                    self.buckets[bucket(bounds, ttft)] += 1;
                }
                self.n_dec += 1;
                self.ctx += (req.cols.input[rid] as f64) + (req.cols.output[rid] as f64) * 0.5;
                self.heap.push(Entry(self.v + req.cols.output[rid] as f64, rid));
                continue;
            }
            let n_dec = self.n_dec;
            if n_dec == 0 {
                if held > 0.0 {
                    self.inflight_area += held * (until - t);
                }
                t = until;
                break;
            }
            let tau = p.base + p.per_seq * (n_dec as f64) + p.per_ctx * self.ctx;
            let Entry(v_done, rid) = *self.heap.peek().expect("decoding requests are in the heap");
            let done = t + (v_done - self.v) * tau;
            if done > until {
                let dt = until - t;
                self.v += dt / tau;
                self.busy += dt;
                self.inflight_area += held * dt;
                t = until;
                break;
            }
            let dt = done - t;
            self.busy += dt;
            self.inflight_area += held * dt;
            t = done;
            self.v = v_done;
            self.heap.pop();
            self.n_dec = n_dec - 1;
            self.ctx -= (req.cols.input[rid] as f64) + (req.cols.output[rid] as f64) * 0.5;
            if n_dec == 1 {
                self.ctx = 0.0; // no float drift across idle periods
            }
            let mut need = req.cols.input[rid] + req.cols.output[rid];
            if need > p.kv_cap {
                need = p.kv_cap;
            }
            self.kv -= need;
            let latency = done - req.cols.arrival[rid];
            req.e2e[rid] = latency;
            self.completed += 1;
            self.prompt_tokens += req.cols.input[rid].max(0) as u64;
            self.generation_tokens += req.cols.output[rid].max(0) as u64;
            if !metric_ttft {
                self.buckets[bucket(bounds, latency)] += 1;
            }
            if !self.waiting.is_empty() {
                self.t = t;
                self.admit(p, req);
            } else if n_dec == 1 && self.prefill.is_empty() {
                self.empty_at = done;
            }
        }
        self.t = t;
    }
}

struct Pod {
    start: f64,
    ready_at: f64,
    state: u8,
    stop: Option<f64>,
    drain_at: f64,
    engine: Replica,
}

/// The pods of one Deployment, the Service in front of them, and what they cost.
#[pyclass(module = "inferop_simcore._core")]
pub struct Core {
    params: Params,
    req: Requests,
    bounds: Vec<f64>,
    metric_ttft: bool,
    cold_start: f64,
    pods: Vec<Pod>,
    ready: Vec<usize>,
    starting: Vec<usize>,
    draining: Vec<usize>,
    pending: VecDeque<usize>,
    rr: usize,
    ready_heap: BinaryHeap<Entry>,
    #[pyo3(get)]
    scale_events: u64,
    /// Scale events before this time (the burn-in) are not counted.
    #[pyo3(get, set)]
    count_events_from: f64,
    retired_area: f64,
}

fn state_name(state: u8) -> &'static str {
    match state {
        STARTING => "Starting",
        READY => "Ready",
        DRAINING => "Draining",
        _ => "Stopped",
    }
}

impl Core {
    fn new_pod(&mut self, now: f64, warm: bool) {
        let ready_at = if warm { now } else { now + self.cold_start };
        let id = self.pods.len();
        let engine = Replica::new(self.bounds.len() + 1, ready_at);
        self.pods.push(Pod {
            start: now,
            ready_at,
            state: if warm { READY } else { STARTING },
            stop: None,
            drain_at: 0.0,
            engine,
        });
        if warm {
            self.ready.push(id);
        } else {
            self.starting.push(id);
            self.ready_heap.push(Entry(ready_at, id));
        }
    }

    fn advance_pod(&mut self, id: usize, until: f64) {
        let Core { params, req, bounds, metric_ttft, pods, .. } = self;
        pods[id].engine.advance(params, req, bounds, *metric_ttft, until);
    }

    fn route_one(&mut self, rid: usize, now: f64) {
        if self.ready.is_empty() {
            self.pending.push_back(rid);
            return;
        }
        self.rr += 1;
        if self.rr >= self.ready.len() {
            self.rr = 0;
        }
        let id = self.ready[self.rr];
        self.advance_pod(id, now);
        let Core { params, req, pods, .. } = self;
        pods[id].engine.enqueue(params, req, rid);
    }

    fn pod(&self, id: usize) -> PyResult<&Pod> {
        self.pods.get(id).ok_or_else(|| PyValueError::new_err(format!("no pod {id}")))
    }
}

#[pymethods]
impl Core {
    #[new]
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (workload, bounds, metric_ttft, cold_start, base, per_seq, per_ctx, per_prefill, max_seqs, kv_cap))]
    fn py_new(
        workload: &Workload,
        bounds: Vec<f64>,
        metric_ttft: bool,
        cold_start: f64,
        base: f64,
        per_seq: f64,
        per_ctx: f64,
        per_prefill: f64,
        max_seqs: usize,
        kv_cap: i64,
    ) -> Self {
        let n = workload.cols.arrival.len();
        Core {
            params: Params { base, per_seq, per_ctx, per_prefill, max_seqs, kv_cap },
            req: Requests { cols: Arc::clone(&workload.cols), ttft: vec![f64::NAN; n], e2e: vec![f64::NAN; n] },
            bounds,
            metric_ttft,
            cold_start,
            pods: Vec::new(),
            ready: Vec::new(),
            starting: Vec::new(),
            draining: Vec::new(),
            pending: VecDeque::new(),
            rr: 0,
            ready_heap: BinaryHeap::new(),
            scale_events: 0,
            count_events_from: 0.0,
            retired_area: 0.0,
        }
    }

    /// Pods that are already Ready at `now`.
    fn start_warm(&mut self, replicas: usize, now: f64) {
        for _ in 0..replicas {
            self.new_pod(now, true);
        }
    }

    /// The Deployment's replicas: pods not terminating (Starting + Ready).
    #[getter]
    fn replicas(&self) -> usize {
        self.ready.len() + self.starting.len()
    }

    #[getter]
    fn ready_count(&self) -> usize {
        self.ready.len()
    }

    fn next_ready_time(&mut self) -> f64 {
        while let Some(&Entry(t, id)) = self.ready_heap.peek() {
            if self.pods[id].state == STARTING {
                return t;
            }
            self.ready_heap.pop();
        }
        f64::INFINITY
    }

    /// Make Ready every starting pod whose cold start ends at or before `now`; route what waited.
    fn mark_ready(&mut self, now: f64) {
        while let Some(&Entry(t, id)) = self.ready_heap.peek() {
            if t > now {
                break;
            }
            self.ready_heap.pop();
            if self.pods[id].state != STARTING {
                continue;
            }
            self.pods[id].state = READY;
            if let Some(at) = self.starting.iter().position(|&p| p == id) {
                self.starting.remove(at);
            }
            self.ready.push(id);
        }
        while !self.ready.is_empty() {
            match self.pending.pop_front() {
                Some(rid) => self.route_one(rid, now),
                None => break,
            }
        }
    }

    /// Set the Deployment's replicas: start pods, or remove starting then newest Ready pods.
    fn scale(&mut self, desired: usize, now: f64) {
        let current = self.replicas();
        if desired == current {
            return;
        }
        if now >= self.count_events_from {
            self.scale_events += 1;
        }
        if desired > current {
            for _ in 0..(desired - current) {
                self.new_pod(now, false);
            }
            return;
        }
        let mut remove = current - desired;
        while remove > 0 {
            let Some(id) = self.starting.pop() else { break };
            self.pods[id].state = STOPPED;
            self.pods[id].stop = Some(now);
            remove -= 1;
        }
        while remove > 0 {
            let Some(id) = self.ready.pop() else { break };
            self.advance_pod(id, now);
            let pod = &mut self.pods[id];
            pod.state = DRAINING;
            pod.drain_at = now;
            self.draining.push(id);
            remove -= 1;
        }
        if !self.ready.is_empty() {
            self.rr %= self.ready.len();
        }
        self.reap(now);
    }

    /// Stop draining pods that have finished their last request.
    fn reap(&mut self, now: f64) {
        if self.draining.is_empty() {
            return;
        }
        let draining = std::mem::take(&mut self.draining);
        let mut keep = Vec::with_capacity(draining.len());
        for id in draining {
            self.advance_pod(id, now);
            let pod = &mut self.pods[id];
            if pod.engine.held() == 0 {
                pod.state = STOPPED;
                pod.stop = Some(pod.engine.empty_at.max(pod.drain_at));
                self.retired_area += pod.engine.inflight_area;
            } else {
                keep.push(id);
            }
        }
        self.draining = keep;
    }

    /// Route request `rid` arriving at `now` (round-robin over the Ready pods; held while none is).
    fn route(&mut self, rid: usize, now: f64) -> PyResult<()> {
        if rid >= self.req.cols.arrival.len() {
            return Err(PyValueError::new_err(format!("no request {rid}")));
        }
        self.route_one(rid, now);
        Ok(())
    }

    /// Route every request from index `start` that arrives before `before`, each at its arrival;
    /// returns the index of the first request not routed.
    fn route_until(&mut self, start: usize, before: f64) -> usize {
        let mut i = start;
        let n = self.req.cols.arrival.len();
        while i < n {
            let at = self.req.cols.arrival[i];
            if !(at < before) {
                break;
            }
            self.route_one(i, at);
            i += 1;
        }
        i
    }

    fn advance_all(&mut self, now: f64) {
        for k in 0..self.ready.len() {
            let id = self.ready[k];
            self.advance_pod(id, now);
        }
        for k in 0..self.draining.len() {
            let id = self.draining[k];
            self.advance_pod(id, now);
        }
    }

    /// Integral over time of the requests held by all pods (for concurrency averages).
    fn held_area(&self) -> f64 {
        let ready: f64 = self.ready.iter().map(|&id| self.pods[id].engine.inflight_area).sum();
        let draining: f64 = self.draining.iter().map(|&id| self.pods[id].engine.inflight_area).sum();
        self.retired_area + (ready + draining)
    }

    /// Run every engine until it has served everything it holds.
    fn finish(&mut self) {
        for id in 0..self.pods.len() {
            let state = self.pods[id].state;
            if state == READY || state == DRAINING {
                self.advance_pod(id, f64::INFINITY);
                if state == DRAINING {
                    let pod = &mut self.pods[id];
                    pod.state = STOPPED;
                    pod.stop = Some(pod.engine.empty_at.max(pod.drain_at));
                }
            }
        }
        self.draining.clear();
    }

    /// Seconds of the pods' lives inside `[since, end)` (multiply by the GPUs per replica).
    fn pod_seconds(&self, end: f64, since: f64) -> f64 {
        let mut total = 0.0;
        for pod in &self.pods {
            let hi = match pod.stop {
                None => end,
                Some(stop) => stop.min(end),
            };
            let lo = if pod.start > since { pod.start } else { since };
            if hi > lo {
                total += hi - lo;
            }
        }
        total
    }

    #[getter]
    fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// Pod ids: the Service's endpoints (Ready, not terminating), newest last.
    #[getter]
    fn ready_ids(&self) -> Vec<usize> {
        self.ready.clone()
    }

    #[getter]
    fn starting_ids(&self) -> Vec<usize> {
        self.starting.clone()
    }

    #[getter]
    fn draining_ids(&self) -> Vec<usize> {
        self.draining.clone()
    }

    /// (state, start, ready_at, stop or None) of one pod.
    fn pod_info(&self, id: usize) -> PyResult<(&'static str, f64, f64, Option<f64>)> {
        let pod = self.pod(id)?;
        Ok((state_name(pod.state), pod.start, pod.ready_at, pod.stop))
    }

    /// What a scrape reads from one pod's engine: (completed, busy seconds, waiting, held,
    /// requests-held integral, latency-histogram counts per bucket, +Inf last, not cumulative).
    fn engine_info(&self, id: usize) -> PyResult<(u64, f64, usize, usize, f64, Vec<u64>)> {
        let e = &self.pod(id)?.engine;
        Ok((e.completed, e.busy, e.waiting.len(), e.held(), e.inflight_area, e.buckets.clone()))
    }

    /// What a scrape reads from every pod serving /metrics (Ready or draining, Service order):
    /// (id, ready_at, completed, busy seconds, waiting, cumulative latency-histogram counts, +Inf last).
    fn scrape_info(&self) -> Vec<(usize, f64, u64, f64, usize, Vec<u64>)> {
        let mut out = Vec::with_capacity(self.ready.len() + self.draining.len());
        for &id in self.ready.iter().chain(self.draining.iter()) {
            let pod = &self.pods[id];
            if pod.state != READY && pod.state != DRAINING {
                continue;
            }
            let e = &pod.engine;
            let mut running = 0u64;
            let cumulative = e
                .buckets
                .iter()
                .map(|c| {
                    running += c;
                    running
                })
                .collect();
            out.push((id, pod.ready_at, e.completed, e.busy, e.waiting.len(), cumulative));
        }
        out
    }

    /// (id, prompt tokens, generated tokens) of every pod `scrape_info` reads, in the same order.
    fn token_info(&self) -> Vec<(usize, u64, u64)> {
        let mut out = Vec::with_capacity(self.ready.len() + self.draining.len());
        for &id in self.ready.iter().chain(self.draining.iter()) {
            let pod = &self.pods[id];
            if pod.state != READY && pod.state != DRAINING {
                continue;
            }
            out.push((id, pod.engine.prompt_tokens, pod.engine.generation_tokens));
        }
        out
    }

    /// (requests, within `slo` seconds, nearest-rank p95, nearest-rank p99) of the requests from
    /// index `start` on, by time to first token or end-to-end latency (seconds; NaN: none).
    fn latency_stats(&self, start: usize, slo: f64, ttft: bool) -> (usize, usize, f64, f64) {
        let values = if ttft { &self.req.ttft } else { &self.req.e2e };
        stats(values.get(start..).unwrap_or(&[]).to_vec(), slo)
    }

    /// Time to first token of every request, seconds (NaN: not served).
    fn ttft(&self) -> Vec<f64> {
        self.req.ttft.clone()
    }

    /// End-to-end latency of every request, seconds (NaN: not served).
    fn e2e(&self) -> Vec<f64> {
        self.req.e2e.clone()
    }
}

/// (count, within `slo`, nearest-rank p95, p99; a rank is ceil(q n)): the ranks selected, not a full sort (a week is tens of
/// millions of latencies); the same values a sort gives.
fn stats(mut values: Vec<f64>, slo: f64) -> (usize, usize, f64, f64) {
    let n = values.len();
    let within = values.iter().filter(|v| **v <= slo).count();
    if n == 0 {
        return (0, within, f64::NAN, f64::NAN);
    }
    let rank = |q: f64| ((q * n as f64 - 1e-9).ceil() as usize).max(1) - 1;
    let (r95, r99) = (rank(0.95), rank(0.99));
    let cmp = |a: &f64, b: &f64| a.total_cmp(b);
    let (_, p99, _) = values.select_nth_unstable_by(r99, cmp);
    let p99 = *p99;
    // Every value below index r99 is <= p99, so the p95 rank is selected among them.
    let p95 = if r95 < r99 { *values[..r99].select_nth_unstable_by(r95, cmp).1 } else { p99 };
    (n, within, p95, p99)
}

/// (count, within `slo`, nearest-rank p95, p99) of latencies given as a float64 buffer.
#[pyfunction]
fn latency_stats(py: Python<'_>, values: PyBuffer<f64>, slo: f64) -> PyResult<(usize, usize, f64, f64)> {
    Ok(stats(values.to_vec(py)?, slo))
}

/// A rate trace's requests: per window (start, length, rate, cv), arrivals as a Gamma renewal process
/// with that rate and coefficient of variation (shape 1/cv^2), restarted at the window's start; each
/// request's prompt and output tokens a log-normal (mu, sigma) draw rounded (half to even) and clipped
/// to [1, upper]. One ChaCha8 stream seeded with `seed` draws everything, in that order. Returned as
/// the native bytes of float64 arrivals and int64 tokens (a week is too many requests for lists).
#[pyfunction]
fn draw_rate_trace(
    py: Python<'_>,
    windows: Vec<(f64, f64, f64, f64)>,
    seed: i64,
    input: (f64, f64, i64),
    output: (f64, f64, i64),
) -> PyResult<(Py<PyBytes>, Py<PyBytes>, Py<PyBytes>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed as u64);
    let bad = |e: &dyn std::fmt::Display| PyValueError::new_err(e.to_string());
    let input_dist = LogNormal::new(input.0, input.1).map_err(|e| bad(&e))?;
    let output_dist = LogNormal::new(output.0, output.1).map_err(|e| bad(&e))?;
    let tokens = |x: f64, upper: i64| (x.round_ties_even() as i64).clamp(1, upper);
    // Reserved for the expected count (and a little more): growing by doubling would hold up to twice
    // the memory of a week's requests.
    let expected: f64 = windows.iter().map(|w| w.1 * w.2.max(0.0)).sum();
    let room = (expected * 1.01 + 64.0) as usize;
    let (mut arrival, mut inputs, mut outputs) =
        (Vec::with_capacity(room), Vec::with_capacity(room), Vec::with_capacity(room));
    for (start, length, rate, cv) in windows {
        if rate <= 0.0 {
            continue;
        }
        let shape = 1.0 / (cv * cv);
        let gamma = Gamma::new(shape, 1.0 / (rate * shape)).map_err(|e| bad(&e))?;
        let stop = start + length;
        let mut t = start;
        loop {
            t += gamma.sample(&mut rng);
            if t >= stop {
                break;
            }
            arrival.push(t);
            inputs.push(tokens(input_dist.sample(&mut rng), input.2));
            outputs.push(tokens(output_dist.sample(&mut rng), output.2));
        }
    }
    Ok((native_bytes(py, arrival), native_bytes(py, inputs), native_bytes(py, outputs)))
}

/// A column as the bytes of its values in native order (for `array.array.frombytes`), the vector freed.
fn native_bytes<T: Copy>(py: Python<'_>, values: Vec<T>) -> Py<PyBytes> {
    // Safety: f64 and i64 have no padding; the bytes are copied before `values` is dropped.
    let raw = unsafe { std::slice::from_raw_parts(values.as_ptr() as *const u8, std::mem::size_of_val(&values[..])) };
    PyBytes::new(py, raw).unbind()
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(draw_rate_trace, m)?)?;
    m.add_class::<Core>()?;
    m.add_class::<Workload>()?;
    m.add_function(wrap_pyfunction!(latency_stats, m)?)?;
    Ok(())
}
