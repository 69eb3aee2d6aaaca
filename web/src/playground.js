// The moat playground: edit a script, submit it to the edge, stream its
// events over a WebSocket, then show the outcome, value and files from the
// run's record. Everything a script produced is put on the page as text
// (textContent, attributes), never parsed as HTML.
import { EditorView, basicSetup } from 'codemirror';
import { javascript } from '@codemirror/lang-javascript';
import { oneDark } from '@codemirror/theme-one-dark';
import { examples } from './examples.js';

const $ = (id) => document.getElementById(id);

/** How long to keep asking for a record the recorder has not written yet. */
const RECORD_AFTER_RESULT = { tries: 15, delayMs: 200 };
/** After the socket closed without a result: poll until the run is done. */
const RECORD_WITHOUT_RESULT = { tries: 90, delayMs: 1000 };

const OUTCOME_HINTS = {
  ok: 'the script finished',
  error: 'uncaught exception, unhandled rejection or an unserialisable value',
  timeout: 'the deadline passed',
  oom: 'the heap limit was reached',
  stack_overflow: 'recursion went past the stack limit',
  output_limit: 'a cap on output was reached; what came before is kept',
  module_not_allowed: 'an import outside the whitelist',
  syntax_error: 'the script does not parse',
  protocol_error: 'the sandbox broke the protocol',
  failed: 'the run failed on every attempt',
  internal_error: 'a bug in moat',
  invalid_job: 'the job was malformed; nothing ran',
};

// ---------------------------------------------------------------------------
// Small helpers

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) node.append(child);
  return node;
}

function formatBytes(n) {
  if (!Number.isFinite(n)) return '?';
  if (n < 1024) return `${n} B`;
  if (n < 10 * 1024 * 1024) return `${Math.round(n / 1024)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

function formatMs(n) {
  return Number.isFinite(n) ? `${n} ms` : '? ms';
}

function formatTs(ms) {
  const n = Number.isFinite(ms) ? String(ms) : '?';
  return `[${n.padStart(5)} ms]`;
}

/** Adds the run's token to a URL that does not carry one already. */
function withToken(url, token) {
  if (!token || /[?&]token=/.test(url)) return url;
  return `${url}${url.includes('?') ? '&' : '?'}token=${encodeURIComponent(token)}`;
}

/**
 * A file's URL, built from the run and the name (percent-encoded: names may
 * hold `#`, `?`, `%` or spaces) rather than trusted from the record.
 */
function fileUrl(file, run) {
  const url = `/v1/runs/${encodeURIComponent(run.id)}/files/${encodeURIComponent(file.name)}`;
  return withToken(url, run.token);
}

/** A readable sentence for a non-2xx answer of the API. */
async function apiError(res) {
  let code = '';
  let message = '';
  try {
    const body = await res.json();
    code = body?.error?.code ?? '';
    message = body?.error?.message ?? '';
  } catch {
    // Not JSON: fall back to the status line.
  }
  const retry = Number.parseInt(res.headers.get('Retry-After') ?? '', 10);
  const wait = Number.isFinite(retry) ? ` try again in ${retry} s.` : ' try again shortly.';
  if (res.status === 429) {
    return code === 'queue_full' ? `The queue is full:${wait}` : `Too many runs:${wait}`;
  }
  if (message) return /[.!?]$/.test(message) ? message : `${message}.`;
  if (res.status === 413) return 'The script is too large.';
  if (res.status === 503) return 'The service is unavailable right now: try again shortly.';
  return `The server answered ${res.status}${res.statusText ? ` ${res.statusText}` : ''}.`;
}

// ---------------------------------------------------------------------------
// The page's parts

const ui = {
  examples: $('examples'),
  editor: $('editor'),
  timeout: $('timeout'),
  memory: $('memory'),
  run: $('run'),
  status: $('status'),
  output: $('output'),
  outcome: $('outcome'),
  valueBlock: $('value-block'),
  value: $('value'),
  filesBlock: $('files-block'),
  files: $('files'),
};

const status = {
  timer: null,
  since: 0,
  /** Sets the status line; `kind` is '', 'busy', 'ok' or 'error'. */
  set(text, kind = '') {
    this.stopClock();
    ui.status.textContent = text;
    ui.status.dataset.kind = kind;
  },
  /** A status line with a running clock, for queued and running. */
  busy(text) {
    this.set(text, 'busy');
    const label = el('span', { text });
    const clock = el('span', { class: 'clock' });
    ui.status.replaceChildren(label, ' ', clock);
    const tick = () => {
      clock.textContent = `${((performance.now() - this.since) / 1000).toFixed(1)} s`;
    };
    tick();
    this.timer = setInterval(tick, 100);
  },
  stopClock() {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  },
};

// Output lines are batched and appended once per frame, so a chatty script
// does not lay out the page for every event.
const output = {
  pending: [],
  scheduled: false,
  count: 0,
  clear() {
    this.pending = [];
    this.count = 0;
    ui.output.replaceChildren();
    ui.output.classList.add('empty');
  },
  line(level, msg, tsMs) {
    const lvl = ['info', 'warn', 'error', 'debug'].includes(level) ? level : 'info';
    const row = el('div', { class: `log log-${lvl}` });
    row.append(el('span', { class: 'ts', text: formatTs(tsMs) }), ' ', el('span', { class: 'msg', text: String(msg) }));
    this.pending.push(row);
    this.count++;
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  },
  note(text, kind = 'note') {
    this.pending.push(el('div', { class: `log log-${kind}`, text }));
    if (!this.scheduled) {
      this.scheduled = true;
      requestAnimationFrame(() => this.flush());
    }
  },
  flush() {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const box = ui.output;
    const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
    box.append(...this.pending);
    box.classList.remove('empty');
    this.pending = [];
    if (atBottom) box.scrollTop = box.scrollHeight;
  },
};

function clearResult() {
  output.clear();
  ui.outcome.hidden = true;
  ui.outcome.removeAttribute('data-outcome');
  ui.outcome.replaceChildren();
  ui.value.textContent = '';
  ui.valueBlock.hidden = true;
  ui.files.replaceChildren();
  ui.filesBlock.hidden = true;
}

/** Shows how the run ended, from a result event or a run record. */
function showOutcome(result) {
  const outcome = typeof result.outcome === 'string' ? result.outcome : 'unknown';
  const badge = el('span', { class: 'badge', text: outcome });
  if (OUTCOME_HINTS[outcome]) badge.title = OUTCOME_HINTS[outcome];
  const stats = [
    `${formatMs(result.wall_ms)} wall`,
    `${formatMs(result.cpu_ms)} cpu`,
    `${formatBytes(result.heap_peak_bytes)} heap`,
  ];
  if (Number.isFinite(result.queued_ms)) stats.push(`queued ${formatMs(result.queued_ms)}`);
  const head = el('div', { class: 'outcome-head' }, badge, ` · ${stats.join(' · ')}`);
  const parts = [head];
  if (outcome !== 'ok' && OUTCOME_HINTS[outcome]) {
    parts.push(el('div', { class: 'outcome-hint', text: OUTCOME_HINTS[outcome] }));
  }
  const error = result.error;
  if (error && typeof error === 'object') {
    const name = error.name ? String(error.name) : 'Error';
    const message = error.message != null ? String(error.message) : '';
    const headline = message ? `${name}: ${message}` : name;
    parts.push(el('div', { class: 'outcome-error', text: headline }));
    // Some engines start the stack with the headline again: show it once.
    let stack = error.stack ? String(error.stack) : '';
    if (stack.startsWith(headline)) stack = stack.slice(headline.length).replace(/^\n/, '');
    if (stack.trim()) parts.push(el('pre', { class: 'outcome-stack', text: stack }));
  }
  ui.outcome.replaceChildren(...parts);
  ui.outcome.dataset.outcome = outcome;
  ui.outcome.hidden = false;

  // A record says `"value": null` for runs that have none; an event omits it.
  if (result.value !== undefined && !(result.value === null && outcome !== 'ok')) {
    let text;
    try {
      text = JSON.stringify(result.value, null, 2);
    } catch {
      text = String(result.value);
    }
    ui.value.textContent = text;
    ui.valueBlock.hidden = false;
  }
}

/** Lists a file announced by an event: downloadable once the record lands. */
function showPendingFile(file) {
  const name = String(file.name ?? '');
  if (!name) return;
  if ([...ui.files.children].some((li) => li.dataset.name === name)) return;
  const li = el('li', { class: 'file pending' });
  li.dataset.name = name;
  li.append(
    el('span', { class: 'file-name', text: name }),
    el('span', { class: 'file-meta', text: `${file.type ?? ''} · ${formatBytes(file.size)} · saving…` }),
  );
  ui.files.append(li);
  ui.filesBlock.hidden = false;
}

/** One request of the script's, as a line: method, URL, what came back. */
function netText(event) {
  const how = event.error
    ? `${event.error}: ${event.message ?? ''}`
    : `${event.status} · ${formatBytes(event.bytes)}`;
  return `→ ${event.method} ${event.url} — ${how} (${event.ms} ms)`;
}

/** Lists the record's files: images inline, anything else as a download. */
function showFiles(files, run) {
  ui.files.replaceChildren();
  for (const file of files) {
    const name = String(file.name ?? '');
    if (!name) continue;
    const url = fileUrl(file, run);
    const type = String(file.type ?? '');
    const li = el('li', { class: 'file' });
    li.dataset.name = name;
    const meta = el('span', { class: 'file-meta', text: `${type} · ${formatBytes(file.size)}` });
    if (type.startsWith('image/')) {
      li.classList.add('image');
      const link = el('a', { href: url, target: '_blank', rel: 'noopener', class: 'file-name', text: name });
      const img = el('img', { src: url, alt: name, loading: 'lazy', decoding: 'async' });
      img.addEventListener('error', () => {
        li.classList.add('broken');
        meta.textContent = `${type} · ${formatBytes(file.size)} · could not be loaded`;
      });
      li.append(el('div', { class: 'file-line' }, link, meta), el('a', { href: url, target: '_blank', rel: 'noopener', class: 'thumb' }, img));
    } else {
      const link = el('a', { href: url, download: name, class: 'file-name', text: name });
      li.append(el('div', { class: 'file-line' }, link, meta));
    }
    ui.files.append(li);
  }
  ui.filesBlock.hidden = ui.files.children.length === 0;
}

// ---------------------------------------------------------------------------
// Talking to the edge

/** Streams a run's events; resolves when the socket closes. */
function streamEvents(run, onEvent) {
  return new Promise((resolve) => {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${scheme}//${location.host}${run.events_url}`);
    } catch (e) {
      resolve({ opened: false, code: 0, reason: String(e?.message ?? e) });
      return;
    }
    let opened = false;
    ws.addEventListener('open', () => {
      opened = true;
    });
    ws.addEventListener('message', (message) => {
      if (typeof message.data !== 'string') return;
      let event;
      try {
        event = JSON.parse(message.data);
      } catch {
        return;
      }
      if (event && typeof event === 'object') onEvent(event);
    });
    // 'error' is always followed by 'close', which carries what we report.
    ws.addEventListener('close', (e) => resolve({ opened, code: e.code, reason: e.reason }));
  });
}

/**
 * GETs the run's record until it is done: 404 means the recorder has not
 * written it yet, a status other than `done` that it has not finished it.
 */
async function fetchRecord(run, { tries, delayMs }) {
  const url = withToken(run.status_url, run.token);
  let last = 'no answer';
  for (let i = 0; i < tries; i++) {
    if (i > 0) await sleep(delayMs);
    let res;
    try {
      res = await fetch(url, { headers: { accept: 'application/json' }, cache: 'no-store' });
    } catch (e) {
      last = `could not reach the server (${e?.message ?? e})`;
      continue;
    }
    if (res.status === 404) {
      last = 'the record is not written yet';
      continue;
    }
    if (!res.ok) {
      last = await apiError(res);
      if (res.status !== 429 && res.status < 500) break;
      continue;
    }
    let record;
    try {
      record = await res.json();
    } catch {
      last = 'the record is not JSON';
      continue;
    }
    if (record && record.status === 'done' && record.outcome) return { record };
    last = `the run is still ${record?.status ?? 'pending'}`;
  }
  return { record: null, why: last };
}

// ---------------------------------------------------------------------------
// A run

let active = false;

function readLimit(input, name, min, max) {
  const raw = input.value.trim();
  if (raw === '') return { ok: true, value: undefined };
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    return { ok: false, message: `${name} must be a whole number from ${min} to ${max}.` };
  }
  return { ok: true, value: n };
}

async function run(view) {
  if (active) return;
  const timeout = readLimit(ui.timeout, 'The timeout', 1, 600000);
  const memory = readLimit(ui.memory, 'The memory limit', 8, 4096);
  for (const limit of [timeout, memory]) {
    if (!limit.ok) {
      status.set(limit.message, 'error');
      return;
    }
  }
  active = true;
  ui.run.disabled = true;
  document.body.classList.add('running');
  clearResult();
  status.since = performance.now();
  status.busy('Submitting…');
  try {
    await execute(view.state.doc.toString(), timeout.value, memory.value);
  } catch (e) {
    status.set(`Something went wrong in the page: ${e?.message ?? e}`, 'error');
  } finally {
    output.flush();
    active = false;
    ui.run.disabled = false;
    document.body.classList.remove('running');
  }
}

async function execute(code, timeoutMs, memoryMb) {
  const body = { code, filename: 'playground.js' };
  if (timeoutMs !== undefined) body.timeout_ms = timeoutMs;
  if (memoryMb !== undefined) body.memory_mb = memoryMb;

  let res;
  try {
    res = await fetch('/v1/runs', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify(body),
    });
  } catch (e) {
    status.set(`Could not reach the server: ${e?.message ?? e}.`, 'error');
    return;
  }
  if (!res.ok) {
    status.set(await apiError(res), 'error');
    return;
  }
  const run = await res.json();
  if (!run || typeof run.events_url !== 'string' || typeof run.status_url !== 'string') {
    status.set('The server answered the submission without the run’s URLs.', 'error');
    return;
  }
  status.busy('Queued…');

  let attempt = 0;
  let lastSeq = -Infinity;
  let result = null;
  const closed = await streamEvents(run, (event) => {
    const eventAttempt = Number.isFinite(event.attempt) ? event.attempt : attempt || 1;
    if (eventAttempt < attempt) return; // a straggler of an abandoned attempt
    if (eventAttempt > attempt) {
      if (attempt > 0) {
        clearResult();
        output.note(`retrying (attempt ${eventAttempt})`, 'retry');
        status.busy(`Retrying (attempt ${eventAttempt})…`);
      } else {
        status.busy(eventAttempt > 1 ? `Running (attempt ${eventAttempt})…` : 'Running…');
      }
      attempt = eventAttempt;
      lastSeq = -Infinity;
    }
    if (Number.isFinite(event.seq)) {
      if (event.seq <= lastSeq) return; // already shown
      lastSeq = event.seq;
    }
    switch (event.t) {
      case 'log':
        output.line(event.level, event.msg ?? '', event.ts_ms);
        break;
      case 'file':
        showPendingFile(event);
        break;
      case 'net':
        output.note(netText(event), event.error ? 'net-failed' : 'net');
        break;
      case 'result':
        result = event;
        output.flush();
        showOutcome(event);
        status.busy('Finished; fetching the run’s files…');
        break;
      default:
        break;
    }
  });
  output.flush();

  if (result) {
    const { record, why } = await fetchRecord(run, RECORD_AFTER_RESULT);
    if (record) {
      showOutcome({ ...result, queued_ms: record.queued_ms });
      showFiles(Array.isArray(record.files) ? record.files : [], run);
      status.set(finishedSentence(result, attempt), outcomeKind(result.outcome));
    } else {
      status.set(`${finishedSentence(result, attempt)} Its record could not be read (${why}), so files are not shown.`, 'error');
    }
    return;
  }

  // The socket closed before the result: say why and ask for the record.
  const because = closed.reason
    ? `${closed.reason}, code ${closed.code}`
    : closed.opened
      ? `code ${closed.code}`
      : 'the event stream could not be opened';
  output.note(`The live output stopped before the run finished: ${because}.`, 'warn');
  status.busy(`The live output stopped (${because}); waiting for the run’s record…`);
  const { record, why } = await fetchRecord(run, RECORD_WITHOUT_RESULT);
  if (!record) {
    status.set(`The live output stopped (${because}) and the run’s record could not be read: ${why}.`, 'error');
    return;
  }
  if (Array.isArray(record.logs) && record.logs.length > output.count) {
    output.clear();
    output.note('Log excerpt from the run’s record:', 'note');
    for (const log of record.logs) output.line(log.level, log.msg ?? '', log.ts_ms);
    output.flush();
  }
  showOutcome(record);
  showFiles(Array.isArray(record.files) ? record.files : [], run);
  status.set(
    `${finishedSentence(record, record.attempt ?? attempt)} Shown from the run’s record: the live output stopped early (${because}).`,
    outcomeKind(record.outcome),
  );
}

function outcomeKind(outcome) {
  if (outcome === 'ok') return 'ok';
  return outcome === 'timeout' || outcome === 'output_limit' ? 'warn' : 'error';
}

function finishedSentence(result, attempt) {
  const retried = attempt > 1 ? ` on attempt ${attempt}` : '';
  const outcome = result.outcome;
  if (outcome === 'ok') return `Finished${retried} in ${formatMs(result.wall_ms)}.`;
  return `Finished${retried} with outcome ${outcome}.`;
}

// ---------------------------------------------------------------------------
// Start

function start() {
  let loading = false;
  const custom = el('option', { value: '', text: 'Your script' });
  custom.disabled = true;
  ui.examples.append(custom, ...examples.map((ex) => el('option', { value: ex.id, text: ex.label })));
  ui.examples.value = examples[0].id;

  const view = new EditorView({
    doc: examples[0].code,
    parent: ui.editor,
    extensions: [
      basicSetup,
      javascript(),
      oneDark,
      EditorView.lineWrapping,
      EditorView.contentAttributes.of({ 'aria-label': 'Script editor' }),
      EditorView.updateListener.of((update) => {
        if (update.docChanged && !loading) ui.examples.value = '';
      }),
    ],
  });

  ui.examples.addEventListener('change', () => {
    const example = examples.find((ex) => ex.id === ui.examples.value);
    if (!example) return;
    loading = true;
    view.dispatch({
      changes: { from: 0, to: view.state.doc.length, insert: example.code },
      selection: { anchor: 0 },
      scrollIntoView: true,
    });
    loading = false;
    view.focus();
  });

  ui.run.addEventListener('click', () => run(view));
  // Ctrl/Cmd+Enter runs from anywhere on the page; caught before the editor's
  // own keymap, which would insert a blank line.
  document.addEventListener(
    'keydown',
    (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey) && !e.altKey && !e.shiftKey) {
        e.preventDefault();
        e.stopPropagation();
        run(view);
      }
    },
    true,
  );

  output.clear();
  status.set('Ready. Press Run or Ctrl+Enter.');
  ui.editor.dataset.ready = 'true';
}

start();
