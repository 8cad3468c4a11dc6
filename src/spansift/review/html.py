"""The review as one self-contained HTML page: inline CSS and inline SVG charts, no scripts.

Summaries are shown in full; the autonomy chart shows each workflow's rate of runs with
exceptions in the two halves of the window.

Nothing on the page loads from the network, so it can be mailed, attached to a
ticket or opened offline. Every value is escaped.
"""

from __future__ import annotations

from html import escape

from spansift.review.autonomy import FLAGGED, Signal
from spansift.review.render import cell
from spansift.review.report import Review, Table

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1b1f24;background:#fff}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.totals span{display:inline-block;margin:0 16px 0 0}.totals b{font-size:18px}
table{border-collapse:collapse;margin:4px 0}th,td{padding:3px 10px;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}th{background:#f3f4f6}td.n{text-align:right}
.flag{color:#b42318;font-weight:600}.ok{color:#067647}.note{color:#555;font-style:italic}
.charts{display:flex;flex-wrap:wrap;gap:16px}.chart{border:1px solid #ddd;padding:8px}
.legend{font-size:12px;color:#555}
"""
_W, _H, _PAD = 360, 140, 24


def _table(table: Table) -> str:
    parts = [f"<h2>{escape(table.title)}</h2>"]
    if not table.rows:
        parts.append("<p class='note'>none</p>")
    else:
        head = "".join(f"<th>{escape(c)}</th>" for c in table.columns)
        body = []
        for row in table.rows:
            tds = []
            for value in row:
                text = escape(cell(value))
                if value == FLAGGED:
                    tds.append(f"<td class='flag'>{text}</td>")
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    tds.append(f"<td class='n'>{text}</td>")
                else:
                    tds.append(f"<td>{text}</td>")
            body.append("<tr>" + "".join(tds) + "</tr>")
        parts.append(f"<table><tr>{head}</tr>{''.join(body)}</table>")
    if table.note:
        parts.append(f"<p class='note'>{escape(table.note)}</p>")
    return "\n".join(parts)


def chart(signal: Signal) -> str:
    """Two bars: the rate of runs with exceptions in each half of the window."""
    rates = [r or 0.0 for r in signal.rates]
    top = max([*rates, 0.0001])
    width = (_W - 2 * _PAD) / 2
    scale = (_H - 2 * _PAD) / top
    bars = []
    for i, (rate, label) in enumerate(zip(rates, ("1st half", "2nd half"), strict=True)):
        x = _PAD + i * width
        h = rate * scale
        bars.append(
            f"<rect class='bar' x='{x + 8:.1f}' y='{_H - _PAD - h:.1f}' width='{width - 16:.1f}' "
            f"height='{h:.1f}' fill='{'#d92d20' if i else '#98a2b3'}'><title>{label}: "
            f"{rate:.1%} of {signal.runs[i]:,.0f} runs</title></rect>"
            f"<text x='{x + width / 2:.1f}' y='{_H - 6}' font-size='11' text-anchor='middle'>"
            f"{label} {rate:.1%}</text>"
        )
    flag = "flag" if signal.flagged else "ok"
    return (
        f"<div class='chart' data-workflow='{escape(signal.workflow)}'>"
        f"<div><b>{escape(signal.workflow)}</b> <span class='{flag}'>"
        f"{escape(signal.verdict)}</span></div>"
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{_W}' height='{_H}' "
        f"viewBox='0 0 {_W} {_H}' role='img' aria-label='{escape(signal.workflow)}'>"
        f"<line x1='{_PAD}' y1='{_H - _PAD}' x2='{_W - _PAD}' y2='{_H - _PAD}' stroke='#888'/>"
        + "".join(bars)
        + "</svg>"
        f"<div class='legend'>runs with exceptions per run seen; controls added: "
        f"{signal.controls_added}</div></div>"
    )


def render_html(review: Review) -> str:
    """The whole page as a string."""
    window = f"{review.since:%Y-%m-%d %H:%M} .. {review.until:%Y-%m-%d %H:%M} UTC"
    totals = "".join(
        f"<span class='total' data-name='{escape(k)}'><b>{v:,}</b> {escape(k)}</span>"
        for k, v in review.totals
    )
    charts = "".join(chart(s) for s in review.signals) or "<p class='note'>no activity</p>"
    sections = "\n".join(_table(t) for t in review.tables)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>spansift review {escape(window)}</title><style>{_CSS}</style></head><body>"
        f"<h1>spansift review</h1><p>{escape(window)}</p><p class='totals'>{totals}</p>"
        f"<h2>Autonomy signal per workflow</h2><div class='charts'>{charts}</div>"
        f"{sections}</body></html>\n"
    )
