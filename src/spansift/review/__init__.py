"""The review loop: decisions, owners, patterns, the review, and exceptions turned into controls.

Modules, one job each: `actions` (every write: decisions, pattern decisions, grants,
revocations, suspensions), `owners` (routing rules), `report` (the review's data) with
`triage` (patterns, metrics, durations) and `autonomy` (the signal against traffic),
`render` and `html` (its formats), `page` and `page_api` (the page `serve` shows at
/review), `evals` (eval cases), `suggest` (proposed controls), `grants` (reconciliation),
`webhooks` (targets, payloads, delivery) and `push` (messages per pattern as rows are
written).
"""

from spansift.review.actions import ActionError, apply
from spansift.review.report import Review, build_review

__all__ = ["ActionError", "Review", "apply", "build_review"]
