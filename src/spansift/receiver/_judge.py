"""The judge: the receiver's pure pipeline stage, in a process of its own.

The receiver's one drive loop (`spansift.drive.Driver`, on the worker thread) keeps
the spool, the database and every commit; what burns the CPU, decoding requests,
sifting, normalizing, the run model and the rules, runs in a judge process so both
run on their own core. The worker sends a batch of spooled records as bytes; the judge
answers with an `Outcome` (hits, run state, losses, the oldest spool segment an open
trace still needs). `JudgedPipeline` stands in for the `Pipeline` on the driver's side,
so `Driver.commit` writes the hits and run state in one transaction as before, and the
spool is consumed only after that.

One judge, on purpose: a session's traces must meet in one pipeline (run rules read
them together, and a resume with no session finds its run by the tool calls it
shares), and on two cores the receiver's own process (intake, fsync, DuckDB writes)
needs the other core.

The judge is started with the `spawn` method (the receiver has threads) and loads the
rules itself from the same files (a compiled rule set does not pickle); it refuses to
run when what it loaded differs from the receiver's rules. If it dies, `JudgeLostError`
tells the worker, which starts another and replays the spool (see `_worker`).
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import pickle
import re
import signal
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from spansift.evidence import RedactionPolicy, active_redaction, configure_redaction
from spansift.pipeline import Pipeline
from spansift.receiver._judge_wire import Outcome, RunState, pack, unpack
from spansift.receiver._spool import KIND_JSON
from spansift.rules import RuleSet, load_ruleset
from spansift.sift import Sifter
from spansift.sources.otlp_json import parse_json
from spansift.sources.otlp_proto import decode_request, spans_from_request
from spansift.traces import AssemblyLimits, Group

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from multiprocessing.connection import Connection

    from spansift.model import Hit, Span, SpanRecord
    from spansift.receiver._spool import Record

START_TIMEOUT_S = 60.0
# Test hook: a judge exits at once on a record holding these bytes (as a crash would).
EXIT_ON_ENV = "SPANSIFT_TEST_JUDGE_EXIT_ON"
FLUSH_EVERY_S = 0.25  # how often a busy judge closes the traces that went quiet
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


class JudgeLostError(RuntimeError):
    """The judge process exited or its pipe broke; what it held is gone."""


@dataclass(frozen=True, slots=True)
class RuleSource:
    """Where the receiver's rules come from, so a judge can load the same ones."""

    paths: tuple[str, ...] = ()
    contracts: str | None = None
    default_rules: bool = True


@dataclass(frozen=True, slots=True)
class _Setup:
    rules: RuleSource
    digest: str
    redaction: RedactionPolicy
    limits: AssemblyLimits
    keep: bool = False  # send back the records of closed traces (the driver keeps them)


def rules_digest(ruleset: RuleSet) -> str:
    """A digest of what the rules say, to check that two processes loaded the same pack."""
    contracts = ruleset.contracts
    said = repr(([rule.spec for rule in ruleset.all_rules], contracts.contracts, contracts.signals))
    said += repr(sorted(contracts.handoff_to_human))
    # Objects without a repr of their own (a spec's contracts) show an address: not content.
    return hashlib.sha256(_ADDRESS.sub("", said).encode()).hexdigest()


# -- the receiver's side ----------------------------------------------------------------


class JudgedPipeline(Pipeline):
    """A `Pipeline` whose work runs in a judge process (see the module docstring).

    Used on the worker thread only. `submit` sends a batch and returns at once;
    `collect` waits for its outcome, so the worker can commit one batch while the judge
    works on the next. Run state, losses and run counts gather here until the driver
    takes them at its commit.
    """

    def __init__(self, ruleset: RuleSet, rules: RuleSource, limits: AssemblyLimits) -> None:
        super().__init__(ruleset, limits=limits)
        self._setup = _Setup(rules, rules_digest(ruleset), active_redaction(), limits)
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._conn: Connection | None = None
        self._saves: dict[tuple[str, str], str] = {}
        self._closed: set[str] = set()
        self._lost: list[tuple[str, int]] = []
        self._oldest: int | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> None:
        """Start a judge process and wait until its rules are loaded."""
        self.close(0.0)
        parent, child = self._context.Pipe()
        # The driver keeps closed traces (`--keep-traces`) if it listens for them.
        setup = replace(self._setup, keep=self.on_close is not None)
        self._process = self._context.Process(
            target=_judge_main, args=(child, setup), name="spansift-judge", daemon=True
        )
        self._process.start()
        child.close()
        self._conn = parent
        self.starts += 1
        if not parent.poll(START_TIMEOUT_S):
            msg = f"the judge process did not start within {START_TIMEOUT_S:.0f} s"
            raise JudgeLostError(msg)
        reply = pickle.loads(self._receive())
        if reply != ("ready",):
            raise JudgeLostError(str(reply[1]))

    def close(self, timeout_s: float) -> None:
        """Ask the judge to exit; kill it if it has not within `timeout_s`."""
        conn, process = self._conn, self._process
        self._conn = self._process = None
        if conn is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.send_bytes(pickle.dumps(("stop",)))
            conn.close()
        if process is not None:
            process.join(timeout_s)
            if process.is_alive():
                process.kill()
                process.join(5.0)

    # -- batches --------------------------------------------------------------------

    def submit(self, records: list[Record]) -> None:
        """Send a batch of spooled records (kind, payload, segment) to the judge."""
        self._send(("batch", [(r.kind, r.payload, r.end[0]) for r in records]))

    def collect(self) -> Outcome:
        """The outcome of the batch (or tick) sent last; `JudgeLostError` if the judge died."""
        outcome = unpack(self._receive())
        saves, closed = outcome.run_state
        for run in closed:  # as the judge's pipeline forgot them when the run closed
            self._saves = {k: v for k, v in self._saves.items() if k[0] != run}
        self._closed.update(closed)
        self._saves.update(((run, trace), text) for run, trace, text in saves)
        if outcome.losses is not None:
            self._lost.append(outcome.losses)
        self.runs.merge(outcome.runs)
        self._oldest = outcome.oldest_tag
        self.counts.spans += outcome.seen
        if outcome.kept and self.on_close is not None:
            self.on_close([Group("", 0.0, 0.0, outcome.kept)])  # the closed traces' records
        return outcome

    def tick(self, *, ended_roots: bool = False, forget_lingering: bool = False) -> Outcome:
        self._send(("tick", ended_roots, forget_lingering))
        return self.collect()

    # -- what the driver calls -------------------------------------------------------

    def spans(
        self, spans: Iterable[Span], tag: int | None = None, *, flush: bool = True
    ) -> list[Hit]:
        msg = "a judged pipeline takes spooled records (submit), not spans"
        raise NotImplementedError(msg)

    def flush(self, now: float | None = None, *, ended_roots: bool = False) -> list[Hit]:
        return self.tick(ended_roots=ended_roots).hits

    def finish(self) -> list[Hit]:
        msg = "a receiver never finishes its runs: they are saved and restored"
        raise NotImplementedError(msg)

    def take_losses(self) -> tuple[str, int] | None:
        losses, self._lost = self._lost, []
        if not losses:
            return None
        return "; ".join(reason for reason, _ in losses), sum(n for _, n in losses)

    def take_run_state(self) -> RunState:
        saves = [(run, trace, text) for (run, trace), text in self._saves.items()]
        closed = sorted(self._closed)
        self._saves, self._closed = {}, set()
        return saves, closed

    def give_back_run_state(self, taken: RunState) -> None:
        saves, closed = taken
        self._closed.update(closed)
        for run, trace, text in saves:
            self._saves.setdefault((run, trace), text)

    def restore_runs(self, rows: Iterable[tuple[str, str, str]]) -> int:
        self._send(("restore", list(rows)))
        count: int = pickle.loads(self._receive())
        return count

    def oldest_open_tag(self) -> int | None:
        return self._oldest

    # -- the pipe -----------------------------------------------------------------------

    def _send(self, message: tuple[Any, ...]) -> None:
        if self._conn is None:
            msg = "the judge process is not running"
            raise JudgeLostError(msg)
        try:
            self._conn.send_bytes(pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL))
        except (OSError, ValueError) as exc:
            raise JudgeLostError(self._why(exc)) from None

    def _receive(self) -> Any:
        if self._conn is None:
            msg = "the judge process is not running"
            raise JudgeLostError(msg)
        try:
            data = self._conn.recv_bytes()
        except (EOFError, OSError) as exc:
            raise JudgeLostError(self._why(exc)) from None
        return data

    def _why(self, exc: BaseException) -> str:
        process = self._process
        if process is not None:
            process.join(1.0)
            if process.exitcode is not None:
                return f"the judge process exited with code {process.exitcode}"
        return f"the judge process is gone: {type(exc).__name__}: {exc}"


# -- the judge process ------------------------------------------------------------------


def _judge_main(conn: Connection, setup: _Setup) -> None:
    """The judge process: load the rules, then answer the receiver's messages until told."""
    # Ctrl-C and a SIGTERM to the whole group are for the receiver, which drains through
    # us first and then says stop (or is gone: the pipe ends).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        src = setup.rules
        ruleset = load_ruleset(list(src.paths), src.contracts, default_rules=src.default_rules)
    except Exception as exc:  # anything: the receiver reports it
        conn.send_bytes(pickle.dumps(("failed", f"the judge could not load the rules: {exc}")))
        return
    if rules_digest(ruleset) != setup.digest:
        conn.send_bytes(pickle.dumps(("failed", "the rule files changed since serve started")))
        return
    policy = setup.redaction
    configure_redaction(policy.keys, policy.prefixes, patterns=policy.patterns)
    judge = _Judge(ruleset, setup.limits, keep=setup.keep)
    conn.send_bytes(pickle.dumps(("ready",)))
    while True:
        try:
            message = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return  # the receiver is gone
        verb = message[0]
        if verb == "stop":
            return
        if verb == "restore":
            conn.send_bytes(pickle.dumps(judge.pipeline.restore_runs(message[1])))
        elif verb == "batch":
            conn.send_bytes(pack(judge.batch(message[1])))
        elif verb == "tick":
            conn.send_bytes(pack(judge.tick(ended_roots=message[1], forget=message[2])))


class _Judge:
    """A sifter and a pipeline, fed spooled records; what the in-process driver builds.

    Spans are stamped with the wall clock as they arrive (so a trace's quiet period is
    exact), but traces are closed at most every `FLUSH_EVERY_S`, at a batch or tick: a
    judge that keeps up would otherwise close a busy session's traces one record at a
    time and resolve the whole run again for each (the in-process worker, busy
    committing in between, closes them together); a trace closes at most that much later.
    """

    def __init__(
        self,
        ruleset: RuleSet,
        limits: AssemblyLimits,
        *,
        keep: bool,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self._exit_on = os.environ.get(EXIT_ON_ENV, "").encode()
        self._flushed = clock()
        self.pipeline = Pipeline(ruleset, limits=limits, clock=clock)
        self.sifter = Sifter(ruleset.contracts.signals) if ruleset.agent_only else None
        self._kept: list[SpanRecord] = []
        if keep:
            self.pipeline.on_close = self._keep

    def _keep(self, traces: list[Group]) -> None:
        self._kept += (r for t in traces for r in t.records)

    def _flush(self, *, ended_roots: bool = False, force: bool = False) -> list[Hit]:
        """Hits of the traces that closed, if a flush is due or forced."""
        now = self._clock()
        if not (force or ended_roots or now - self._flushed >= FLUSH_EVERY_S):
            return []
        self._flushed = now
        return self.pipeline.flush(now, ended_roots=ended_roots)

    def _seen(self) -> int:
        return self.sifter.counts.seen if self.sifter is not None else self.pipeline.counts.spans

    def batch(self, records: list[tuple[int, bytes, int]]) -> Outcome:
        before = self._seen()
        hits: list[Hit] = []
        poisoned: list[tuple[int, str]] = []
        exit_on = self._exit_on
        for n, (kind, payload, tag) in enumerate(records):
            if exit_on and exit_on in payload:
                os._exit(70)
            try:
                hits += self.pipeline.spans(self._spans(kind, payload), tag, flush=False)
            except Exception as exc:  # a poison record must not stop the judge
                poisoned.append((n, f"{type(exc).__name__}: {exc}"))
        hits += self._flush()
        return self._outcome(hits, poisoned, self._seen() - before)

    def _spans(self, kind: int, payload: bytes) -> list[Span]:
        sifter = self.sifter
        if kind == KIND_JSON:  # spooled by an older version
            spans = parse_json(payload)
            return sifter.spans(spans) if sifter is not None else spans
        request = decode_request(payload)
        if sifter is None:
            return spans_from_request(request)
        return sifter.request(request, payload)

    def tick(self, *, ended_roots: bool, forget: bool) -> Outcome:
        hits = self._flush(ended_roots=ended_roots, force=True)  # idle: nothing to group
        if forget:
            self.pipeline.assembler.forget_lingering()
        return self._outcome(hits, [], 0)

    def _outcome(self, hits: list[Hit], poisoned: list[tuple[int, str]], seen: int) -> Outcome:
        pipeline = self.pipeline
        kept, self._kept = self._kept, []
        return Outcome(
            hits, poisoned, seen, pipeline.take_run_state(), pipeline.take_losses(),
            pipeline.runs.take(), pipeline.oldest_open_tag(), kept,
        )  # fmt: skip
