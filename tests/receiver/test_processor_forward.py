"""The processor beside a running receiver: it forwards, in parents and forked children."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode
from receiver_helpers import Server, count_exceptions, wait_for

from spansift import ExceptionLogProcessor


def _failing_tool_traces(provider: TracerProvider, tag: str, count: int) -> list[str]:
    tracer = provider.get_tracer("forward-tests")
    ids = []
    for i in range(count):
        with tracer.start_as_current_span("invoke_agent support") as root:
            root.set_attribute("gen_ai.operation.name", "invoke_agent")
            root.set_attribute("gen_ai.agent.name", "support")
            with tracer.start_as_current_span("execute_tool get_order") as span:
                span.set_attribute("gen_ai.operation.name", "execute_tool")
                span.set_attribute("gen_ai.tool.name", f"get_order_{tag}_{i}")
                span.set_status(Status(StatusCode.ERROR, "TimeoutError: backend did not answer"))
            ids.append(f"{root.get_span_context().trace_id:032x}")
    return ids


def test_processor_forwards_to_the_receiver_holding_the_log(
    make_server: Callable[..., Server],
) -> None:
    """The receiver holds the DuckDB file; the processor sends its spans there instead."""
    server = make_server()
    processor = ExceptionLogProcessor(db=server.db)
    provider = TracerProvider(resource=Resource({"service.name": "app"}))
    provider.add_span_processor(processor)
    ids = _failing_tool_traces(provider, "parent", 3)
    assert processor.force_flush()
    provider.shutdown()
    assert processor.dropped_spans == 0
    wait_for(lambda: count_exceptions(server, ids) == 3, 20, "forwarded rows")


def test_a_forked_child_starts_its_own_worker_and_forwards(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    """A pre-fork server: the processor made in the parent works in the child it forks."""
    server = make_server()
    processor = ExceptionLogProcessor(db=server.db)
    provider = TracerProvider(resource=Resource({"service.name": "app"}))
    provider.add_span_processor(processor)
    ids_file = tmp_path / "child-ids.txt"
    pid = os.fork()
    if pid == 0:  # the child: emit, flush, report, leave without running the parent's atexit
        code = 1
        try:
            ids = _failing_tool_traces(provider, "child", 2)
            flushed = processor.force_flush(20_000)
            ids_file.write_text("\n".join(ids))
            code = 0 if flushed and processor.dropped_spans == 0 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    ids = ids_file.read_text().split()
    wait_for(lambda: count_exceptions(server, ids) == 2, 20, "rows from the child")
    provider.shutdown()
