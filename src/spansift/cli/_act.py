"""Sending review writes: to the file directly, or through a running `spansift serve`."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from spansift.cli._common import fail
from spansift.cli._open import open_log
from spansift.cli._remote import current_token
from spansift.errors import ConfigError, SpansiftError
from spansift.remote import find_server, open_url, write_token
from spansift.review.actions import ActionError, apply
from spansift.rules._select import contracts_source
from spansift.rules._yaml import Problems
from spansift.rules.contracts import Contracts, load_contracts

ACT_PATH = "/spansift/act"
TIMEOUT_S = 30.0


def contracts_for(path: str | None) -> Contracts | None:
    """The contracts file given, else ./spansift.yaml when present, else None."""
    source = contracts_source(path)
    if source is None:
        return None
    problems = Problems()
    contracts = load_contracts(source, problems)
    if problems:
        for problem in problems.items:
            click.echo(str(problem), err=True)
        fail(f"{len(problems.items)} problem(s) in {source}; fix them and run again")
    return contracts


def submit(db: str, doc: Mapping[str, Any], contracts: Contracts | None = None) -> dict[str, Any]:
    """Apply a review request: through the receiver holding `db`, else on the file itself."""
    info = find_server(db)
    if info is not None:
        body = json.dumps(dict(doc)).encode()
        headers = {"Content-Type": "application/json"}
        token = current_token() or write_token(db)
        if token:
            headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(info.url + ACT_PATH, data=body, headers=headers)
        try:
            with open_url(info, request, TIMEOUT_S) as response:
                answer: dict[str, Any] = json.load(response)
                return answer
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            exc.close()
            if exc.code == 401:
                fail(
                    f"the receiver at {info.url} needs a token for review writes: pass its "
                    f"--token (or set SPANSIFT_TOKEN), or run as the user who can read {db}.token"
                )
            try:
                detail = json.loads(detail)["error"]
            except (ValueError, KeyError, TypeError):
                detail = detail.strip()
            fail(f"receiver at {info.url} refused: {detail}")
        except (urllib.error.URLError, OSError):
            pass  # the receiver is gone; the file is free again
    if not Path(db).exists():
        fail(f"no exception log at {db}: run `spansift ingest FILE` or `spansift serve` first")
    try:
        with open_log(db) as log:
            return apply(log, doc, contracts)
    except (ActionError, SpansiftError, ConfigError) as exc:
        fail(str(exc))
    raise AssertionError  # unreachable: fail() raises
