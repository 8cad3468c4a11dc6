"""The review loop: decisions, patterns, the review, and exceptions turned into controls.

Modules, one job each: `actions` (every write: decisions, pattern decisions, grants,
revocations, suspensions), `report` (the review's data) with `triage` (patterns,
metrics, durations) and `autonomy` (the signal against traffic), `render` and `html`
(its formats), `page` and `page_api` (the page `serve` shows at /review), `evals` (eval
cases), `suggest` (proposed controls) and `grants` (reconciliation). Owner routing and
grant coverage live in `spansift.decide`, notifications in `spansift.notify`.
"""

from spansift.review.actions import ActionError, apply
from spansift.review.report import Review, build_review

__all__ = ["ActionError", "Review", "apply", "build_review"]
