"""Which instrumentation's shapes to read, by instrumentation scope: one table.

A span's instrumentation scope says who recorded it; the readers here add what that
stack records beyond the conventions it follows (see each module's docstring), and the
refiners what only the shape of a whole trace or run shows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from spansift.model import Attributes, AttrValue, Event, SpanRecord
from spansift.normalize import (
    agno,
    crewai,
    google_adk,
    langchain,
    openai_agents,
    pydantic_ai,
    smolagents,
    strands,
    vercel_ai,
)
from spansift.normalize._util import Out

Extras = list[tuple[int, str, dict[str, AttrValue]]]


@dataclass(frozen=True, slots=True)
class Parts:
    """What a stack's reader may look at besides the attribute getter."""

    name: str
    attributes: Attributes
    events: tuple[Event, ...]


Reader = Callable[[Out, Any, Parts], None]
Refiner = Callable[[Sequence[SpanRecord], list[dict[str, AttrValue]]], "Extras | None"]

READERS: dict[str, Reader] = {
    langchain.SCOPE: lambda out, get, p: langchain.read(out, get, p.name, p.events),
    openai_agents.SCOPE: lambda out, get, p: openai_agents.read(out, get),
    pydantic_ai.SCOPE: lambda out, get, p: pydantic_ai.read(out, get, p.name),
    vercel_ai.SCOPE: lambda out, get, p: vercel_ai.read(out, get, p.name),
    google_adk.SCOPE: lambda out, get, p: google_adk.read(out, get, p.name),
    strands.SCOPE: lambda out, get, p: strands.read(out, get, p.events),
    smolagents.SCOPE: lambda out, get, p: smolagents.read(out, get, p.name, p.attributes),
    agno.SCOPE: lambda out, get, p: agno.read(out, get, p.attributes),
    vercel_ai.SCOPE_OTEL: lambda out, get, p: vercel_ai.read_otel(out, get),
    # Model calls a crew makes go through an OpenAI instrumentation; CrewAI's texts are there.
    **dict.fromkeys(
        crewai.MODEL_SCOPES, lambda out, get, p: crewai.read_model_call(out, get, p.attributes)
    ),
    **dict.fromkeys(crewai.SCOPES, lambda out, get, p: crewai.read(out, get, p.name, p.events)),
}

REFINERS: tuple[tuple[frozenset[str], Refiner], ...] = (
    (frozenset({langchain.SCOPE}), langchain.refine),
    (frozenset({pydantic_ai.SCOPE}), pydantic_ai.refine),
    (frozenset({google_adk.SCOPE}), google_adk.refine),
    (frozenset({strands.SCOPE}), strands.refine),
    (frozenset({smolagents.SCOPE}), smolagents.refine),
    (frozenset({agno.SCOPE}), agno.refine),
    (crewai.SCOPES, crewai.refine),
    (frozenset({vercel_ai.SCOPE, vercel_ai.SCOPE_OTEL}), vercel_ai.refine),
)


def refine(records: Sequence[SpanRecord], fields: list[dict[str, AttrValue]]) -> Extras:
    """Every refiner whose stack recorded some of the records, in the table's order."""
    scopes = {r.span.scope for r in records}
    extras: Extras = []
    for wanted, refiner in REFINERS:
        if scopes & wanted:
            extras += refiner(records, fields) or []
    return extras
