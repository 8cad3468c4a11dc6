"""The review loop: decisions, owners, patterns, the review, and exceptions turned into controls.

Modules, one job each: `actions` (every write: decisions, grants, suspensions),
`owners` (routing rules), `report` (the review's data), `render` and `html` (its
formats), `evals` (eval cases), `suggest` (proposed controls), `grants`
(reconciliation) and `webhooks` (notifications).
"""

from spansift.review.actions import ActionError, apply
from spansift.review.report import Review, build_review

__all__ = ["ActionError", "Review", "apply", "build_review"]
