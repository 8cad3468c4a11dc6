"""The review page `spansift serve` shows at /review: one self-contained document.

Inline CSS and JavaScript, nothing loaded from the network. The script reads
`/review/api/review` and `/review/api/trace`, and posts the buttons to `/review/api/act`
with the header `X-Spansift-Review: 1` (a cross-site form cannot set it). Every value
is put in the page with `textContent`, never parsed as HTML.
"""

from __future__ import annotations

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:20px;color:#1b1f24}
h1{font-size:20px;margin:0 0 6px}h2{font-size:16px;margin:22px 0 6px}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}th{background:#f3f4f6}
.sev-critical{color:#7a0916;font-weight:700}.sev-high{color:#b42318;font-weight:600}
.sev-medium{color:#b54708}.sev-low,.sev-info{color:#475467}
button{margin:0 4px 4px 0;cursor:pointer}.bar{margin:8px 0}.bar label{margin-right:12px}
#message{padding:6px 0;color:#067647}#message.error{color:#b42318}
#trace ul{list-style:none;padding-left:18px;margin:0}#trace li{margin:2px 0}
.offending{background:#fee4e2;font-weight:600}.span-error{color:#b42318}
.form{background:#f9fafb;border:1px solid #ddd;padding:8px;margin:4px 0}
.controls{font-size:12px;color:#475467}.group td{background:#eef2f6;font-weight:600}
"""

_SCRIPT = r"""
const $ = (id) => document.getElementById(id);
const state = {data: null};
function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}
function say(text, error) {
  const m = $('message'); m.textContent = text; m.className = error ? 'error' : '';
}
async function call(url, body) {
  const options = body ? {method: 'POST', body: JSON.stringify(body),
    headers: {'Content-Type': 'application/json', 'X-Spansift-Review': '1'}} : {};
  const response = await fetch(url, options);
  const doc = await response.json();
  if (!response.ok) throw new Error(doc.error || response.statusText);
  return doc;
}
async function load() {
  const days = $('days').value;
  state.data = await call('/review/api/review?days=' + encodeURIComponent(days));
  render();
}
function reviewer() {
  const who = $('reviewer').value.trim();
  if (!who) { say('Say who you are in the reviewer field first.', true); return null; }
  localStorage.setItem('spansift.reviewer', who);
  return who;
}
async function decide(pattern, action, extra) {
  const actor = reviewer();
  if (!actor) return;
  try {
    const answer = await call('/review/api/act', Object.assign(
      {action: action, fingerprint: pattern.fingerprint, actor: actor}, extra || {}));
    const what = answer.patterns ? answer.patterns.length + ' pattern(s)'
                                 : answer.decided + ' exception(s)';
    await load();  // the message last, once the table shows the new state
    say(answer.status + ': ' + what + ' (' + pattern.type + ' in ' + pattern.workflow + ')');
  } catch (error) { say(error.message, true); }
}
function form(pattern, cell, action) {
  cell.querySelectorAll('.form').forEach((f) => f.remove());
  const box = el('div', null, 'form');
  box.dataset.testid = action + '-form';
  const fields = {};
  const add = (name, node) => { fields[name] = node; node.name = name;
    const label = el('label', name + ' '); label.appendChild(node); box.appendChild(label); };
  if (action === 'resolve') {
    add('resolution', el('input'));
    const select = el('select');
    for (const f of ['eval_case', 'grader_rule', 'source_policy', 'permission_change', 'none']) {
      const option = el('option', f); option.value = f; select.appendChild(option);
    }
    add('follow_up', select);
  } else if (action === 'assign') {
    add('owner', el('input'));
  } else if (action === 'suppress') {
    const days = el('input'); days.type = 'number'; days.value = '7'; add('days', days);
  }
  const ok = el('button', 'confirm ' + action);
  ok.dataset.testid = 'confirm-' + action;
  ok.onclick = () => {
    const extra = {};
    for (const [name, node] of Object.entries(fields)) {
      extra[name] = name === 'days' ? Number(node.value) : node.value;
    }
    decide(pattern, action, extra);
  };
  box.appendChild(ok);
  cell.appendChild(box);
}
async function showTrace(pattern, id) {
  try {
    const doc = await call('/review/api/trace?id=' + encodeURIComponent(id || pattern.latest_id));
    const rows = await call('/review/api/rows?fingerprint=' +
                            encodeURIComponent(pattern.fingerprint));
    const box = $('trace'); box.textContent = '';
    const row = doc.exception;
    const pick = el('select'); pick.dataset.testid = 'pick-row';
    for (const r of rows) {
      const option = el('option', r.exception_id.slice(0, 12) + '  ' + r.occurred_at.slice(0, 16)
                                  + '  ' + r.status);
      option.value = r.exception_id; option.selected = r.exception_id === row.exception_id;
      pick.appendChild(option);
    }
    pick.onchange = () => showTrace(pattern, pick.value);
    const label = el('label', 'rows of this pattern '); label.appendChild(pick);
    box.appendChild(label);
    box.appendChild(el('h2', 'Evidence for ' + row.exception_id.slice(0, 12) + ': ' + row.summary));
    box.appendChild(el('p', 'trace ' + row.trace_id + ', status ' + row.status +
                            ', owner ' + (row.owner || '(unowned)')));
    const walk = (spans) => {
      const list = el('ul');
      for (const span of spans) {
        const item = el('li', null, span.offending ? 'offending' : '');
        item.dataset.testid = span.offending ? 'offending-span' : 'span';
        const name = el('span', span.name + ' [' + span.status + ']',
                        span.status === 'error' ? 'span-error' : '');
        item.appendChild(name);
        if (span.offending) item.appendChild(el('span', '  <- the rule fired here'));
        if (span.status_message) item.appendChild(el('div', span.status_message, 'controls'));
        if (span.children.length) item.appendChild(walk(span.children));
        list.appendChild(item);
      }
      return list;
    };
    box.appendChild(walk(doc.spans));
  } catch (error) { say(error.message, true); }
}
function patternRow(pattern) {
  const tr = el('tr');
  tr.dataset.testid = 'pattern';
  tr.dataset.fingerprint = pattern.fingerprint;
  const cells = [pattern.severity, pattern.state, pattern.type, pattern.workflow,
    pattern.subject || '', pattern.open, pattern.exceptions, pattern.open ? pattern.open_age : '-',
    pattern.owner || '(unowned)', pattern.summary];
  cells.forEach((value, i) => {
    const td = el('td', value, i === 0 ? 'sev-' + pattern.severity : '');
    if (i === 9 && pattern.controls.length) td.appendChild(el('div', pattern.controls.join(', '),
                                                              'controls'));
    tr.appendChild(td);
  });
  const buttons = el('td');
  const add = (label, handler) => { const b = el('button', label); b.dataset.testid = label;
    b.onclick = handler; buttons.appendChild(b); };
  add('evidence', () => showTrace(pattern));
  add('ack', () => decide(pattern, 'ack'));
  add('resolve', () => form(pattern, buttons, 'resolve'));
  add('assign', () => form(pattern, buttons, 'assign'));
  add('suppress', () => form(pattern, buttons, 'suppress'));
  tr.appendChild(buttons);
  return tr;
}
function render() {
  const data = state.data;
  $('window').textContent = data.since.slice(0, 16) + ' .. ' + data.until.slice(0, 16) + ' UTC';
  $('totals').textContent = Object.entries(data.totals).map(([k, v]) => v + ' ' + k).join(' · ');
  const body = $('patterns'); body.textContent = '';
  const group = $('group').value;
  const groups = new Map();
  for (const pattern of data.patterns) {
    const keys = group === 'control' ? (pattern.controls.length ? pattern.controls : ['(none)'])
                                     : [''];
    for (const key of keys) { if (!groups.has(key)) groups.set(key, []);
                              groups.get(key).push(pattern); }
  }
  for (const [key, patterns] of [...groups.entries()].sort()) {
    if (key) { const tr = el('tr', null, 'group'); const td = el('td', key); td.colSpan = 11;
               tr.appendChild(td); body.appendChild(tr); }
    patterns.forEach((p) => body.appendChild(patternRow(p)));
  }
  if (!data.patterns.length) body.appendChild(el('tr')).appendChild(el('td', 'nothing to review'));
  const signals = $('signals'); signals.textContent = '';
  for (const s of data.signals) {
    signals.appendChild(el('li', s.workflow + ': ' + s.verdict, s.flagged ? 'sev-high' : ''));
  }
}
$('reviewer').value = localStorage.getItem('spansift.reviewer') || '';
$('days').onchange = load; $('group').onchange = render;
load().catch((error) => say(error.message, true));
"""


def page_html() -> str:
    """The page; all data arrives from the API once the script runs."""
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>spansift review</title>"
        f"<style>{_CSS}</style></head><body>"
        "<h1>spansift review</h1><p id='window'></p><p id='totals'></p>"
        "<div class='bar'><label>reviewer <input id='reviewer' placeholder='you@example.com'>"
        "</label><label>window <select id='days'><option value='1'>24h</option>"
        "<option value='7' selected>7d</option><option value='30'>30d</option></select></label>"
        "<label>group <select id='group'><option value=''>triage order</option>"
        "<option value='control'>by control</option></select></label></div>"
        "<div id='message' role='status'></div>"
        "<h2>Open patterns, in triage order</h2><table><thead><tr><th>severity</th><th>state</th>"
        "<th>type</th><th>workflow</th><th>subject</th><th>open</th><th>rows</th>"
        "<th>open for</th><th>owner</th><th>summary</th><th></th></tr></thead>"
        "<tbody id='patterns'></tbody></table>"
        "<div id='trace'></div><h2>Autonomy signal</h2><ul id='signals'></ul>"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )
