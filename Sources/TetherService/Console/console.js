// Tether console: sessions, one session's timeline, and fleet stats, read from the
// service's own /v1 API. Plain ES2020, no dependencies, no build step.
//
// The page runs under `default-src 'none'; script-src 'self'; style-src 'self'`: no
// inline script or style, so the script never sets an element's style. Everything
// visual is a class (console.css) or an SVG geometry attribute (x, y, width, d...).
'use strict';

(() => {
  const TOKEN_KEY = 'tether.console.token';
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const PAGE_SIZE = 50;
  const EVENT_PAGE = 1000;
  const MAX_EVENT_PAGES = 50; // 50,000 events: a bound on what one session page loads
  const STATES = ['connecting', 'joined', 'reconnecting', 'migrating', 'left', 'failed', 'ended'];
  const TERMINAL = new Set(['left', 'failed', 'ended']);
  const WINDOWS = { '15m': 15 * 60e3, '1h': 3600e3, '24h': 24 * 3600e3, '7d': 7 * 24 * 3600e3 };
  const WINDOW_LABELS = { '15m': 'last 15 minutes', '1h': 'last hour', '24h': 'last 24 hours', '7d': 'last 7 days' };

  // ---------------------------------------------------------------- helpers

  const $ = (sel, root = document) => root.querySelector(sel);

  /** Builds an HTML element. attrs: class, text, data (object), title, href, hidden, anything else as an attribute. */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    applyAttrs(node, attrs);
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** Builds an SVG element with geometry attributes. */
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    applyAttrs(node, attrs);
    for (const child of children.flat()) {
      if (child == null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function applyAttrs(node, attrs) {
    if (!attrs) return;
    for (const [key, value] of Object.entries(attrs)) {
      if (value == null || value === false) continue;
      if (key === 'style') throw new Error('inline styles are not allowed by the console CSP');
      if (key === 'text') node.textContent = String(value);
      else if (key === 'data') for (const [k, v] of Object.entries(value)) { if (v != null) node.dataset[k] = String(v); }
      else if (key === 'class') node.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
      else if (key.startsWith('on') && typeof value === 'function') node.addEventListener(key.slice(2), value);
      else if (value === true) node.setAttribute(key, '');
      else node.setAttribute(key, String(value));
    }
  }

  const num = (v) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);
  const round1 = (v) => Math.round(v * 10) / 10;
  const sleep = (ms, signal) => new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    if (signal) signal.addEventListener('abort', () => { clearTimeout(timer); resolve(); }, { once: true });
  });

  function fmtDuration(ms) {
    if (ms == null || !Number.isFinite(ms)) return '–';
    if (ms < 1000) return `${Math.round(ms)} ms`;
    if (ms < 10e3) return `${(ms / 1000).toFixed(2)} s`;
    if (ms < 60e3) return `${(ms / 1000).toFixed(1)} s`;
    return fmtAge(ms);
  }

  function fmtAge(ms) {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
    const h = Math.floor(m / 60);
    if (h < 24) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
    return `${Math.floor(h / 24)}d ${h % 24}h`;
  }

  function fmtBound(ms) {
    if (ms < 1000) return `${ms}ms`;
    if (ms < 60e3) return `${ms / 1000}s`;
    return `${ms / 60e3}m`;
  }

  const pad = (n, w = 2) => String(n).padStart(w, '0');
  function fmtClock(t) {
    const d = new Date(t);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }
  function fmtDateTime(t) {
    if (!t) return '–';
    const d = new Date(t);
    const today = new Date();
    const clock = fmtClock(t);
    if (d.toDateString() === today.toDateString()) return clock;
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${clock}`;
  }

  function nodeName(url) {
    if (!url) return '–';
    const m = /^wss?:\/\/([^/]+)/.exec(url);
    return m ? m[1] : url;
  }

  function shortId(id) {
    return id && id.length > 13 ? `${id.slice(0, 8)}…` : id || '';
  }

  const badge = (state) => el('span', { class: `badge badge-${STATES.includes(state) ? state : 'connecting'}`, text: state || '?' });

  // ---------------------------------------------------------------- API

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.name = 'ApiError';
      this.status = status;
      this.code = code;
    }
    get text() {
      return this.status ? `${this.message} (${this.status} ${this.code})` : this.message;
    }
  }

  const auth = {
    token: sessionStorage.getItem(TOKEN_KEY) || '',
    headers(token = this.token) {
      const headers = { Accept: 'application/json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      return headers;
    },
  };

  async function errorFrom(res) {
    let code = `http_${res.status}`;
    let message = res.statusText || `HTTP ${res.status}`;
    try {
      const body = await res.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || message;
      }
    } catch (_) { /* not JSON: keep the status line */ }
    return new ApiError(res.status, code, message);
  }

  async function api(path, { signal, token } = {}) {
    let res;
    try {
      res = await fetch(path, { headers: auth.headers(token), signal, cache: 'no-store' });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError(0, 'unreachable', `the service could not be reached (${e.message})`);
    }
    if (!res.ok) throw await errorFrom(res);
    const body = await res.json();
    // A view left while this was in flight must not draw it over its successor.
    if (signal && signal.aborted) throw new DOMException('the view was left', 'AbortError');
    return body;
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v != null && v !== '') q.set(k, String(v));
    const s = q.toString();
    return s ? `?${s}` : '';
  }

  // ---------------------------------------------------------------- banner, live status

  const banner = {
    show(text) { const b = $('#banner'); b.textContent = text; b.hidden = false; },
    hide() { $('#banner').hidden = true; },
  };

  function setLive(state, text) {
    const node = $('#live-status');
    node.classList.remove('live-on', 'live-off', 'live-retry');
    node.classList.add(`live-${state}`);
    $('#live-text').textContent = text || { on: 'live', off: 'offline', retry: 'reconnecting…' }[state];
  }

  /** One place that turns a failure into what the user sees. */
  function handleError(e) {
    if (!e || e.name === 'AbortError') return;
    if (e instanceof ApiError && e.status === 401) {
      router.requireSignIn(auth.token ? `The stored token was refused: ${e.text}` : '');
      return;
    }
    banner.show(e instanceof ApiError ? e.text : `Something went wrong: ${e.message || e}`);
  }

  // ---------------------------------------------------------------- live tail (fetch + SSE parsing)

  /**
   * Reads GET /v1/events/stream with fetch (so it can send the bearer header, which
   * EventSource cannot), parses Server-Sent Events, and resumes with ?after=<last id>
   * when the stream ends, with a bounded exponential backoff.
   */
  // The server comments every 15 s; this long without a byte means a dead connection.
  const SILENCE_LIMIT_MS = 45000;

  class LiveTail {
    constructor({ sessionId = null, after = null, onEvent, onResume }) {
      this.sessionId = sessionId;
      this.lastId = after;
      this.onEvent = onEvent;
      this.onResume = onResume;
      this.abort = new AbortController();
      this.stopped = false;
    }

    start() {
      this.run().catch(handleError);
      return this;
    }

    stop() {
      this.stopped = true;
      this.abort.abort();
    }

    async run() {
      let backoff = 500;
      let first = true;
      while (!this.stopped) {
        if (!first && this.onResume) this.onResume(this.lastId);
        first = false;
        // One controller per connection: stop() ends it, and so does a silence
        // longer than the heartbeat allows (a half-open connection never errors).
        const attempt = new AbortController();
        const onStop = () => attempt.abort();
        this.abort.signal.addEventListener('abort', onStop, { once: true });
        let silence = 0;
        const heard = () => {
          clearTimeout(silence);
          silence = setTimeout(() => attempt.abort(), SILENCE_LIMIT_MS);
        };
        try {
          const params = { session_id: this.sessionId, after: this.lastId };
          heard();
          const res = await fetch(`/v1/events/stream${query(params)}`, {
            headers: { ...auth.headers(), Accept: 'text/event-stream' },
            signal: attempt.signal,
            cache: 'no-store',
          });
          if (!res.ok || !res.body) throw await errorFrom(res);
          setLive('on');
          await this.read(res.body, () => { backoff = 500; heard(); });
        } catch (e) {
          if (this.stopped) return;
          if (e instanceof ApiError && e.status === 401) { this.stopped = true; handleError(e); return; }
          // Anything else (a network error, a 503, the silence limit): resume below.
        } finally {
          clearTimeout(silence);
          this.abort.signal.removeEventListener('abort', onStop);
        }
        if (this.stopped) return;
        setLive('retry');
        await sleep(backoff + Math.random() * 250, this.abort.signal);
        backoff = Math.min(backoff * 2, 15000);
      }
    }

    async read(body, onTraffic) {
      const reader = body.getReader();
      const decoder = new TextDecoder();
      let buffer = '';
      let event = { id: null, type: null, data: [] };
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          onTraffic();
          buffer += decoder.decode(value, { stream: true });
          for (;;) {
            const m = /\r\n|\r|\n/.exec(buffer);
            if (!m) break;
            // A lone CR at the end may be the first half of a CRLF: wait for more.
            if (m[0] === '\r' && m.index === buffer.length - 1) break;
            const line = buffer.slice(0, m.index);
            buffer = buffer.slice(m.index + m[0].length);
            if (line === '') {
              if (event.data.length) this.dispatch(event);
              event = { id: null, type: null, data: [] };
              continue;
            }
            if (line.startsWith(':')) continue; // comment: heartbeat or ": live"
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            let val = colon < 0 ? '' : line.slice(colon + 1);
            if (val.startsWith(' ')) val = val.slice(1);
            if (field === 'id') event.id = val;
            else if (field === 'event') event.type = val;
            else if (field === 'data') event.data.push(val);
          }
        }
      } finally {
        reader.cancel().catch(() => {});
      }
    }

    dispatch(raw) {
      // The id moves on even for a payload we cannot read, so a resume skips it.
      const sseId = Number(raw.id);
      if (raw.id && Number.isFinite(sseId) && sseId > 0) this.lastId = Math.max(this.lastId || 0, sseId);
      let payload;
      try {
        payload = JSON.parse(raw.data.join('\n'));
      } catch (_) {
        return;
      }
      const id = Number(payload.id);
      if (Number.isFinite(id) && id > 0) this.lastId = Math.max(this.lastId || 0, id);
      try {
        this.onEvent(payload);
      } catch (e) {
        handleError(e);
      }
    }
  }

  // ---------------------------------------------------------------- router

  const views = {};
  let current = null; // { name, view }

  const router = {
    needsSignIn: false,

    parse() {
      const raw = location.hash.replace(/^#\/?/, '');
      const [path, q] = raw.split('?');
      const parts = (path || '').split('/').filter(Boolean).map((p) => { try { return decodeURIComponent(p); } catch (_) { return p; } });
      return { parts, params: new URLSearchParams(q || '') };
    },

    route() {
      banner.hide();
      if (this.needsSignIn) { this.show('signin', {}); return; }
      const { parts, params } = this.parse();
      if (parts[0] === 'sessions' && parts[1]) this.show('session', { id: parts[1], params });
      else if (parts[0] === 'overview') this.show('overview', { params });
      else this.show('sessions', { params });
    },

    show(name, args) {
      if (current) current.view.leave();
      for (const section of document.querySelectorAll('.view')) section.hidden = section.id !== `view-${name}`;
      $('#nav').hidden = name === 'signin';
      $('#nav-sessions').classList.toggle('active', name === 'sessions' || name === 'session');
      $('#nav-overview').classList.toggle('active', name === 'overview');
      current = { name, view: views[name] };
      current.view.enter(args);
    },

    requireSignIn(message) {
      if (auth.token) {
        auth.token = '';
        sessionStorage.removeItem(TOKEN_KEY);
      }
      this.needsSignIn = true;
      $('#signout').hidden = true;
      setLive('off');
      this.show('signin', { message });
    },
  };

  // ---------------------------------------------------------------- sign-in

  views.signin = {
    enter({ message }) {
      const error = $('#signin-error');
      error.hidden = !message;
      error.textContent = message || '';
      $('#signin-token').value = '';
      $('#signin-token').focus();
    },
    leave() {},
  };

  function setupSignIn() {
    $('#signin-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const token = $('#signin-token').value.trim();
      const error = $('#signin-error');
      const button = $('#signin-submit');
      if (!token) {
        error.textContent = 'Enter a token.';
        error.hidden = false;
        return;
      }
      button.disabled = true;
      error.hidden = true;
      api(`/v1/sessions${query({ limit: 1 })}`, { token })
        .then(() => {
          auth.token = token;
          sessionStorage.setItem(TOKEN_KEY, token);
          router.needsSignIn = false;
          $('#signout').hidden = false;
          router.route();
        })
        .catch((err) => {
          if (err.name === 'AbortError') return;
          error.textContent = err instanceof ApiError && err.status === 401
            ? `This token was refused: ${err.message} (${err.status} ${err.code})`
            : `Sign-in failed: ${err instanceof ApiError ? err.text : err.message}`;
          error.hidden = false;
          $('#signin-token').select();
        })
        .finally(() => { button.disabled = false; });
    });
    $('#signout').addEventListener('click', () => {
      router.requireSignIn('');
    });
  }

  // ---------------------------------------------------------------- sessions list

  views.sessions = {
    tail: null,
    abort: null,
    rows: new Map(), // id -> tr
    pendingRows: new Set(),
    rowTimer: 0,
    pageTimer: 0,
    ageTimer: 0,
    args: null,

    enter({ params }) {
      this.args = {
        state: STATES.includes(params.get('state')) ? params.get('state') : '',
        call: params.get('call_id') || '',
        cursor: /^[0-9]{1,18}$/.test(params.get('cursor') || '') ? params.get('cursor') : '',
      };
      $('#filter-state').value = this.args.state;
      $('#filter-call').value = this.args.call;
      // Never show the rows of an earlier visit as if they were current.
      $('#sessions-table tbody').replaceChildren();
      this.rows.clear();
      $('#sessions-empty').hidden = true;
      $('#page-info').textContent = 'loading…';
      this.abort = new AbortController();
      this.load(true).catch(handleError);
      this.ageTimer = setInterval(() => this.tickAges(), 5000);
    },

    leave() {
      if (this.abort) this.abort.abort();
      if (this.tail) this.tail.stop();
      this.tail = null;
      clearInterval(this.ageTimer);
      clearTimeout(this.rowTimer);
      clearTimeout(this.pageTimer);
      this.rowTimer = 0;
      this.pendingRows.clear();
    },

    async load(startTail) {
      const { state, call, cursor } = this.args;
      const page = await api(`/v1/sessions${query({ state, call_id: call, cursor, limit: PAGE_SIZE })}`, { signal: this.abort.signal });
      banner.hide();
      this.render(page);
      if (startTail && !this.tail) {
        this.tail = new LiveTail({
          onEvent: (ev) => this.onEvent(ev),
          // After a gap in the tail, the page itself is the cheapest full truth.
          onResume: () => this.schedulePage(),
        }).start();
      }
    },

    render(page) {
      const tbody = $('#sessions-table tbody');
      tbody.replaceChildren();
      this.rows.clear();
      for (const s of page.sessions || []) {
        const tr = this.row(s);
        this.rows.set(s.id, tr);
        tbody.append(tr);
      }
      $('#sessions-empty').hidden = (page.sessions || []).length > 0;
      const next = $('#page-next');
      next.disabled = !page.next_cursor;
      next.dataset.cursor = page.next_cursor || '';
      $('#page-first').disabled = !this.args.cursor;
      const filters = [this.args.state && `state ${this.args.state}`, this.args.call && `call ${this.args.call}`].filter(Boolean);
      $('#page-info').textContent = `${(page.sessions || []).length} shown${this.args.cursor ? ' (older page)' : ', newest first'}${filters.length ? ` · ${filters.join(', ')}` : ''}`;
    },

    row(s) {
      const c = s.counters || {};
      const open = () => { location.hash = `#/sessions/${encodeURIComponent(s.id)}`; };
      const n = (v, cls) => el('td', { class: ['num', v ? cls : 'zero'], text: num(v) });
      return el('tr', { data: { sessionId: s.id, state: s.state, created: s.created_at_ms }, onclick: open },
        el('td', {}, badge(s.state)),
        el('td', {}, el('a', { class: 'mono', href: `#/sessions/${encodeURIComponent(s.id)}`, title: s.id, text: shortId(s.id) })),
        el('td', { class: 'call mono', title: s.call_id, text: s.call_id }),
        el('td', { class: 'user mono', title: s.user_id, text: s.user_id }),
        el('td', { class: 'sfu mono', title: s.sfu_url, text: nodeName(s.sfu_url) }),
        el('td', { class: 'num mono', text: num(s.generation) }),
        n(c.losses, 'warn'),
        n(c.reconnects, ''),
        n(c.failed_reconnects, 'bad'),
        el('td', { class: 'num age', text: fmtAge(Date.now() - num(s.created_at_ms)) }),
      );
    },

    tickAges() {
      for (const tr of this.rows.values()) {
        const age = tr.querySelector('td.age');
        if (age) age.textContent = fmtAge(Date.now() - Number(tr.dataset.created || 0));
      }
    },

    onEvent(ev) {
      if (this.rows.has(ev.session_id)) {
        this.pendingRows.add(ev.session_id);
        if (!this.rowTimer) this.rowTimer = setTimeout(() => this.flushRows(), 250);
      } else if (ev.type === 'session_created' && !this.args.cursor) {
        this.schedulePage();
      }
    },

    schedulePage() {
      clearTimeout(this.pageTimer);
      this.pageTimer = setTimeout(() => { this.load(false).catch(handleError); }, 400);
    },

    flushRows() {
      this.rowTimer = 0;
      const ids = [...this.pendingRows];
      this.pendingRows.clear();
      const signal = this.abort.signal;
      for (const id of ids) {
        api(`/v1/sessions/${encodeURIComponent(id)}`, { signal })
          .then((s) => {
            const old = this.rows.get(id);
            if (!old || signal.aborted) return;
            if (this.args.state && s.state !== this.args.state) { this.schedulePage(); return; }
            const tr = this.row(s);
            tr.classList.add('flash');
            old.replaceWith(tr);
            this.rows.set(id, tr);
          })
          .catch(handleError);
      }
    },
  };

  function setupSessionsControls() {
    $('#sessions-filter').addEventListener('submit', (e) => {
      e.preventDefault();
      location.hash = `#/sessions${query({ state: $('#filter-state').value, call_id: $('#filter-call').value.trim() })}`;
    });
    $('#filter-state').addEventListener('change', () => {
      location.hash = `#/sessions${query({ state: $('#filter-state').value, call_id: $('#filter-call').value.trim() })}`;
    });
    $('#page-next').addEventListener('click', () => {
      const cursor = $('#page-next').dataset.cursor;
      if (!cursor) return;
      const a = views.sessions.args;
      location.hash = `#/sessions${query({ state: a.state, call_id: a.call, cursor })}`;
    });
    $('#page-first').addEventListener('click', () => {
      const a = views.sessions.args;
      location.hash = `#/sessions${query({ state: a.state, call_id: a.call })}`;
    });
  }

  // ---------------------------------------------------------------- one session

  const ID_FIELDS = new Set(['id', 'type', 'session_id', 'time_ms', 'generation']);

  function eventDetails(ev) {
    const parts = [];
    for (const [k, v] of Object.entries(ev)) {
      if (ID_FIELDS.has(k) || v == null) continue;
      parts.push([k, typeof v === 'object' ? JSON.stringify(v) : String(v)]);
    }
    return parts;
  }

  /** The lines a tooltip shows for one event. */
  function eventLines(ev, t0) {
    const lines = [`#${ev.id} ${ev.type}`, `${fmtDateTime(ev.time_ms)}  (+${fmtDuration(ev.time_ms - t0)})  gen ${ev.generation}`];
    for (const [k, v] of eventDetails(ev)) lines.push(`${k}: ${v.length > 72 ? `${v.slice(0, 71)}…` : v}`);
    return lines;
  }

  /**
   * Turns a history into what the timeline draws: connection generations, losses,
   * reconnections (start → reconnected / reconnect_failed, with their attempts and
   * escalations), other events, and the terminal outcome.
   */
  function buildTimeline(events, session, now) {
    const evs = [...events].sort((a, b) => a.id - b.id);
    const t0 = evs.length ? evs[0].time_ms : now;
    const live = session && !TERMINAL.has(session.state);
    const lastT = evs.length ? evs[evs.length - 1].time_ms : now;
    const t1 = Math.max(lastT, live ? now : lastT, t0 + 1);
    const model = { t0, t1, live, gens: [], losses: [], spans: [], dots: [], outcome: null, times: [] };

    let open = null;
    const close = (span, t, outcome) => {
      span.end = t;
      span.outcome = outcome;
      span.segments[span.segments.length - 1].to = t;
      model.spans.push(span);
    };
    const openSpan = (ev, strategy) => ({
      start: ev.time_ms, end: null, strategy, startEvent: ev, endEvent: null, outcome: 'open',
      segments: [{ strategy, from: ev.time_ms, to: null }], attempts: [], escalations: [], merged: [],
    });

    const genStart = new Map();
    const genLoss = new Map();
    for (const ev of evs) {
      model.times.push(ev.time_ms);
      const g = num(ev.generation);
      if (g > 0 && !genStart.has(g)) genStart.set(g, ev.time_ms);
      switch (ev.type) {
        case 'connection_lost':
          model.losses.push(ev);
          if (!genLoss.has(g)) genLoss.set(g, ev.time_ms);
          break;
        case 'reconnect_started':
          if (open) close(open, ev.time_ms, 'superseded');
          open = openSpan(ev, ev.strategy || 'fast');
          break;
        case 'reconnect_attempt_failed':
          if (open) open.attempts.push(ev); else model.dots.push(ev);
          break;
        case 'strategy_escalated':
          if (open) {
            open.escalations.push(ev);
            open.segments[open.segments.length - 1].to = ev.time_ms;
            open.segments.push({ strategy: ev.to, from: ev.time_ms, to: null });
            open.strategy = ev.to;
          } else {
            model.dots.push(ev);
          }
          break;
        case 'trigger_merged':
        case 'reconnect_delayed':
          if (open) open.merged.push(ev);
          model.dots.push(ev);
          break;
        case 'reconnected': {
          if (!open) {
            // A recovery whose start we did not see: place it from its own duration.
            open = openSpan({ ...ev, time_ms: ev.time_ms - num(ev.duration_ms) }, ev.strategy);
          }
          if (ev.strategy && ev.strategy !== open.strategy) {
            open.segments[open.segments.length - 1].to = ev.time_ms;
            open.segments.push({ strategy: ev.strategy, from: ev.time_ms, to: null });
            open.strategy = ev.strategy;
          }
          open.endEvent = ev;
          close(open, ev.time_ms, 'reconnected');
          open = null;
          break;
        }
        case 'reconnect_failed':
          if (open) {
            open.endEvent = ev;
            close(open, ev.time_ms, 'failed');
            open = null;
          }
          model.outcome = ev;
          break;
        case 'left':
        case 'call_ended':
        case 'join_failed':
          model.outcome = ev;
          break;
        default:
          model.dots.push(ev);
      }
    }
    if (open) {
      // Still running (or the history stops here): draw it to the end of the axis.
      close(open, t1, live ? 'open' : 'unfinished');
    }
    if (model.outcome) model.dots = model.dots.filter((d) => d !== model.outcome);

    const gens = [...genStart.entries()].sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    const endOfLife = model.outcome ? model.outcome.time_ms : t1;
    gens.forEach(([g, start], i) => {
      const next = i + 1 < gens.length ? gens[i + 1][1] : endOfLife;
      const loss = genLoss.get(g);
      const end = loss != null && loss >= start && loss <= next ? loss : next;
      model.gens.push({ gen: g, start, end: Math.max(end, start), lost: loss != null });
    });
    model.times.push(t1);
    return model;
  }

  /**
   * Maps time to x. "Compressed" gives every gap between consecutive events a width
   * that grows with the log of its length, so a 3 ms reconnection and the minutes of
   * calm around it are both readable; "linear" is plain proportional time.
   */
  function makeScale(model, x0, x1, linear) {
    const { t0, t1 } = model;
    if (linear) {
      const k = (x1 - x0) / Math.max(1, t1 - t0);
      return { x: (t) => x0 + (Math.min(Math.max(t, t0), t1) - t0) * k, breaks: [] };
    }
    const times = [...new Set(model.times.filter((t) => t >= t0 && t <= t1))].sort((a, b) => a - b);
    if (!times.length || times[0] !== t0) times.unshift(t0);
    const pos = [0];
    const breaks = [];
    for (let i = 1; i < times.length; i++) {
      const gap = times[i] - times[i - 1];
      pos.push(pos[i - 1] + (gap <= 0 ? 0 : 6 + 24 * Math.log10(1 + gap)));
      if (gap > 5000) breaks.push({ from: times[i - 1], to: times[i], gap });
    }
    const total = pos[pos.length - 1] || 1;
    const x = (t) => {
      if (t <= times[0]) return x0;
      if (t >= times[times.length - 1]) return x0 + (pos[pos.length - 1] / total) * (x1 - x0);
      let lo = 0;
      let hi = times.length - 1;
      while (hi - lo > 1) {
        const mid = (lo + hi) >> 1;
        if (times[mid] <= t) lo = mid; else hi = mid;
      }
      const f = times[hi] === times[lo] ? 0 : (t - times[lo]) / (times[hi] - times[lo]);
      return x0 + ((pos[lo] + f * (pos[hi] - pos[lo])) / total) * (x1 - x0);
    };
    return { x, breaks };
  }

  const STRATEGY_LABEL = { fast: 'FAST', rejoin: 'REJOIN', migrate: 'MIGRATE', disconnect: 'DISCONNECT' };

  function spanLines(span, t0) {
    const label = span.segments.map((s) => STRATEGY_LABEL[s.strategy] || s.strategy).join(' → ');
    const lines = [`reconnection ${label}`];
    const outcome = span.outcome === 'reconnected' ? 'reconnected' : span.outcome === 'failed' ? `failed (${span.endEvent && span.endEvent.reason})` : span.outcome === 'open' ? 'in progress' : span.outcome;
    lines.push(`outcome: ${outcome}`);
    const dur = span.endEvent && span.endEvent.duration_ms != null ? span.endEvent.duration_ms : span.end - span.start;
    lines.push(`duration: ${fmtDuration(dur)}${span.endEvent && span.endEvent.attempts != null ? `, attempts: ${span.endEvent.attempts}` : ''}`);
    if (span.startEvent && span.startEvent.trigger) lines.push(`trigger: ${span.startEvent.trigger}`);
    lines.push(`started: ${fmtDateTime(span.start)} (+${fmtDuration(span.start - t0)})`);
    for (const a of span.attempts.slice(0, 3)) lines.push(`attempt ${a.attempt} ${a.strategy} failed at ${a.step}`);
    if (span.attempts.length > 3) lines.push(`… ${span.attempts.length - 3} more failed attempts`);
    for (const e of span.escalations.slice(0, 2)) lines.push(`escalated ${e.from} → ${e.to} (${e.reason})`);
    return lines;
  }

  /** Draws the timeline into `wrap`. `hooks.hover(eventIds)` highlights rows. */
  function drawTimeline(wrap, model, { linear, hooks }) {
    const W = Math.max(640, Math.floor(wrap.clientWidth || 1200));
    const left = 104;
    const right = W - 24;
    const lanes = { loss: [10, 34], gen: [42, 74], recon: [82, 130], ev: [138, 160] };
    const axisY = 170;
    const H = 196;
    const scale = makeScale(model, left + 6, right - 6, linear);
    const X = scale.x;
    const tips = new Map();
    const tipped = (node, lines, ids) => { tips.set(node, { lines, ids }); node.append(svg('title', { text: lines.join('\n') })); return node; };

    const root = svg('svg', { id: 'timeline', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Session timeline' });

    // lanes
    const laneNames = { loss: 'losses', gen: 'connection', recon: 'reconnects', ev: 'events' };
    for (const [key, [y0, y1]] of Object.entries(lanes)) {
      root.append(svg('rect', { class: 'lane-bg', x: left, y: y0, width: right - left, height: y1 - y0, rx: 3 }));
      root.append(svg('text', { class: 'lane-label', x: 8, y: (y0 + y1) / 2 + 4, text: laneNames[key] }));
    }

    // axis with ticks at event clusters (labels spaced so they never overlap)
    root.append(svg('line', { class: 'axis-line', x1: left, x2: right, y1: axisY, y2: axisY }));
    let lastLabelX = -Infinity;
    const tickTimes = [...new Set(model.times)].sort((a, b) => a - b);
    if (linear) {
      tickTimes.length = 0;
      for (let i = 0; i <= 6; i++) tickTimes.push(model.t0 + ((model.t1 - model.t0) * i) / 6);
    }
    for (const t of tickTimes) {
      const x = X(t);
      root.append(svg('line', { class: 'tick', x1: x, x2: x, y1: axisY, y2: axisY + 4 }));
      if (x - lastLabelX < 70 || (x > right - 20 && t !== model.t1)) continue;
      lastLabelX = x;
      root.append(svg('text', { class: 'tick-label', x, y: axisY + 16, 'text-anchor': x > right - 20 ? 'end' : 'middle', text: t === model.t0 ? fmtClock(t) : `+${fmtDuration(t - model.t0)}` }));
    }
    for (const b of scale.breaks) {
      const xa = X(b.from);
      const xb = X(b.to);
      const xm = (xa + xb) / 2;
      root.append(svg('path', { class: 'gap-mark', d: `M${xm - 3},${axisY - 5} l4,10 M${xm + 1},${axisY - 5} l4,10` }));
    }

    // generation bands
    model.gens.forEach((g, i) => {
      const x0 = X(g.start);
      const x1 = Math.max(X(g.end), x0 + 3);
      const node = svg('g', { class: ['gen-band', i % 2 ? 'alt' : ''], data: { generation: g.gen } },
        svg('rect', { x: x0, y: lanes.gen[0] + 3, width: x1 - x0, height: lanes.gen[1] - lanes.gen[0] - 6, rx: 3 }));
      if (x1 - x0 > 34) node.append(svg('text', { x: x0 + 6, y: (lanes.gen[0] + lanes.gen[1]) / 2 + 4, text: `gen ${g.gen}` }));
      const lines = [`generation ${g.gen}`, `from ${fmtDateTime(g.start)} (+${fmtDuration(g.start - model.t0)})`, `lasted ${fmtDuration(g.end - g.start)}${g.lost ? ', ended by a loss' : ''}`];
      root.append(tipped(node, lines, []));
    });

    // reconnection spans
    let labelRowEnd = [-Infinity, -Infinity];
    for (const span of model.spans) {
      const x0 = X(span.start);
      const x1 = Math.max(X(span.end), x0 + 8);
      const y = lanes.recon[0] + 6;
      const h = 16;
      const node = svg('g', {
        class: 'reconnect-span',
        data: { strategy: span.strategy, outcome: span.outcome, attempts: span.attempts.length, escalations: span.escalations.length },
      });
      node.append(svg('rect', { class: 'span-body', x: x0, y, width: x1 - x0, height: h, rx: 3 }));
      // The strategies it went through, as thin segments along the top edge.
      if (span.segments.length > 1) {
        const full = Math.max(1, span.end - span.start);
        let sx = x0;
        span.segments.forEach((seg, i) => {
          const w = i === span.segments.length - 1 ? x1 - sx : Math.max(2, ((num(seg.to) - seg.from) / full) * (x1 - x0));
          node.append(svg('rect', { class: `seg-${seg.strategy}`, x: sx, y: y - 4, width: Math.max(2, w), height: 3 }));
          sx += w;
        });
      }
      for (const a of span.attempts) {
        const ax = Math.min(Math.max(X(a.time_ms), x0 + 3), x1 - 3);
        node.append(svg('g', { class: 'attempt-mark' }, svg('circle', { cx: ax, cy: y + h / 2, r: 3.5 })));
      }
      for (const e of span.escalations) {
        const ex = Math.min(Math.max(X(e.time_ms), x0 + 4), x1 - 4);
        node.append(svg('g', { class: 'escalation-mark' }, svg('path', { d: `M${ex - 4},${y + h + 7} L${ex},${y + h + 1} L${ex + 4},${y + h + 7} Z` })));
      }
      const names = span.segments.map((s) => STRATEGY_LABEL[s.strategy] || s.strategy).join('→');
      const dur = span.endEvent && span.endEvent.duration_ms != null ? span.endEvent.duration_ms : span.end - span.start;
      const text = `${names} · ${span.outcome === 'open' ? 'running' : fmtDuration(dur)}${span.attempts.length ? ` · ${span.attempts.length} failed` : ''}`;
      const estWidth = text.length * 6.2;
      const row = labelRowEnd[0] <= x0 ? 0 : labelRowEnd[1] <= x0 ? 1 : -1;
      if (row >= 0) {
        const tx = Math.min(x0, right - estWidth);
        node.append(svg('text', { class: 'span-label', x: tx, y: y + h + 14 + row * 12, text }));
        labelRowEnd[row] = tx + estWidth + 8;
      }
      const ids = [span.startEvent, span.endEvent, ...span.attempts, ...span.escalations].filter(Boolean).map((e) => e.id);
      root.append(tipped(node, spanLines(span, model.t0), ids));
    }

    // other events
    for (const ev of model.dots) {
      const node = svg('g', { class: ['event-dot', `ev-${ev.type}`], data: { type: ev.type } },
        svg('circle', { cx: X(ev.time_ms), cy: (lanes.ev[0] + lanes.ev[1]) / 2, r: 4.5 }));
      root.append(tipped(node, eventLines(ev, model.t0), [ev.id]));
    }

    // terminal outcome
    if (model.outcome) {
      const ev = model.outcome;
      const x = X(ev.time_ms);
      const y0 = lanes.gen[0];
      const node = svg('g', { class: ['outcome-marker', `oc-${ev.type}`], data: { type: ev.type } },
        svg('line', { class: 'tick', x1: x, x2: x, y1: lanes.loss[0], y2: lanes.ev[1] }),
        svg('path', { d: `M${x},${y0 - 2} L${x + 12},${y0 + 4} L${x},${y0 + 10} Z` }));
      const label = `${ev.type}${ev.reason ? ` (${ev.reason})` : ev.code ? ` (${ev.code})` : ''}`;
      node.append(svg('text', { x: Math.min(x - 4, right - label.length * 6.2), y: lanes.ev[1] - 5, 'text-anchor': x - 4 > right - label.length * 6.2 ? 'start' : 'end', text: label }));
      root.append(tipped(node, eventLines(ev, model.t0), [ev.id]));
    }

    // losses, drawn last so they sit on top, with a stem down to the reconnect lane
    for (const ev of model.losses) {
      const x = X(ev.time_ms);
      const cy = (lanes.loss[0] + lanes.loss[1]) / 2;
      const known = ['unexpected_close', 'error', 'health_check_timeout'].includes(ev.reason);
      const node = svg('g', { class: 'loss-marker', data: { reason: ev.reason || 'unknown', eventId: ev.id } },
        svg('line', { class: 'loss-stem', x1: x, x2: x, y1: cy + 6, y2: lanes.recon[1] }),
        svg('rect', { class: 'hit', x: x - 9, y: lanes.loss[0], width: 18, height: lanes.loss[1] - lanes.loss[0] }),
        svg('path', { class: known ? null : 'other', d: `M${x - 7},${cy - 6} L${x + 7},${cy - 6} L${x},${cy + 7} Z` }));
      root.append(tipped(node, eventLines(ev, model.t0), [ev.id]));
    }

    if (model.live) {
      const x = X(model.t1);
      root.append(svg('line', { class: 'now-line', x1: x, x2: x, y1: lanes.loss[0], y2: lanes.ev[1] }));
      root.append(svg('text', { class: 'now-label', x: x - 2, y: lanes.loss[0] - 1, 'text-anchor': 'end', text: 'now' }));
    }

    // the hover tooltip: an SVG group placed with a transform (no inline style)
    const tip = svg('g', { class: 'tip', visibility: 'hidden' });
    const tipRect = svg('rect', { x: 0, y: 0, rx: 4, width: 10, height: 10 });
    const tipText = svg('text', { x: 0, y: 0 });
    tip.append(tipRect, tipText);
    root.append(tip);

    const targetOf = (node) => {
      for (let n = node; n && n !== root; n = n.parentNode) if (tips.has(n)) return n;
      return null;
    };
    let hot = null;
    root.addEventListener('mousemove', (e) => {
      const target = targetOf(e.target);
      if (!target) { hide(); return; }
      const info = tips.get(target);
      if (hot !== target) {
        if (hot) hot.classList.remove('hot');
        hot = target;
        hot.classList.add('hot');
        tipText.replaceChildren(...info.lines.map((line, i) => svg('tspan', { x: 10, dy: i ? 15 : 17, class: i ? null : 'tip-head', text: line })));
        hooks.hover(info.ids);
      }
      const w = Math.min(W - 8, Math.max(...info.lines.map((l) => l.length)) * 7 + 20);
      const h = info.lines.length * 15 + 12;
      tipRect.setAttribute('width', w);
      tipRect.setAttribute('height', h);
      const box = root.getBoundingClientRect();
      const mx = e.clientX - box.left;
      const my = e.clientY - box.top;
      let tx = mx + 14;
      if (tx + w > W - 4) tx = Math.max(4, mx - w - 14);
      let ty = my + 14;
      if (ty + h > H - 2) ty = Math.max(2, H - h - 2);
      tip.setAttribute('transform', `translate(${round1(tx)},${round1(ty)})`);
      tip.setAttribute('visibility', 'visible');
    });
    const hide = () => {
      tip.setAttribute('visibility', 'hidden');
      if (hot) hot.classList.remove('hot');
      if (hot) hooks.hover([]);
      hot = null;
    };
    root.addEventListener('mouseleave', hide);
    root.addEventListener('click', (e) => {
      const target = targetOf(e.target);
      if (target) hooks.select(tips.get(target).ids);
    });

    // Keep the tooltip able to show several lines: grow the drawing when needed.
    wrap.replaceChildren(root);
    return root;
  }

  views.session = {
    id: null,
    session: null,
    events: [],
    seen: new Set(),
    tail: null,
    abort: null,
    drawQueued: false,
    refreshTimer: 0,
    liveTimer: 0,
    truncated: false,

    enter({ id }) {
      this.id = id;
      this.session = null;
      this.events = [];
      this.seen = new Set();
      this.truncated = false;
      this.abort = new AbortController();
      $('#session-title').textContent = id;
      $('#session-state').replaceChildren();
      $('#session-facts').replaceChildren();
      $('#timeline-wrap').replaceChildren();
      $('#events-table tbody').replaceChildren();
      $('#events-count').textContent = '';
      $('#timeline-note').textContent = '';
      this.load().catch((e) => {
        if (e instanceof ApiError && e.status === 404) {
          banner.show(`No session ${id}: ${e.text}`);
          return;
        }
        handleError(e);
      });
      this.liveTimer = setInterval(() => {
        if (this.session && !TERMINAL.has(this.session.state) && !$('#timeline .hot')) this.queueDraw();
      }, 5000);
    },

    leave() {
      if (this.abort) this.abort.abort();
      if (this.tail) this.tail.stop();
      this.tail = null;
      clearTimeout(this.refreshTimer);
      clearInterval(this.liveTimer);
    },

    async load() {
      const signal = this.abort.signal;
      const path = `/v1/sessions/${encodeURIComponent(this.id)}`;
      const session = await api(path, { signal });
      this.session = session;
      this.renderFacts();
      let cursor = '';
      for (let page = 0; page < MAX_EVENT_PAGES; page++) {
        const res = await api(`${path}/events${query({ cursor, limit: EVENT_PAGE })}`, { signal });
        this.add(res.events || [], false);
        if (!res.next_cursor || !(res.events || []).length) { cursor = ''; break; }
        cursor = res.next_cursor;
      }
      this.truncated = Boolean(cursor);
      banner.hide();
      this.renderEvents();
      this.queueDraw();
      const lastId = this.events.length ? this.events[this.events.length - 1].id : null;
      this.tail = new LiveTail({
        sessionId: this.id,
        after: lastId,
        onEvent: (ev) => this.onEvent(ev),
      }).start();
    },

    add(events, fresh) {
      const added = [];
      for (const ev of events) {
        if (ev.session_id && ev.session_id !== this.id) continue;
        if (this.seen.has(ev.id)) continue;
        this.seen.add(ev.id);
        this.events.push(ev);
        added.push(ev);
      }
      if (added.length && fresh) {
        this.events.sort((a, b) => a.id - b.id);
        const tbody = $('#events-table tbody');
        for (const ev of added) tbody.append(this.eventRow(ev, true));
        this.countEvents();
      }
      return added;
    },

    onEvent(ev) {
      if (!this.add([ev], true).length) return;
      this.queueDraw();
      clearTimeout(this.refreshTimer);
      this.refreshTimer = setTimeout(() => {
        api(`/v1/sessions/${encodeURIComponent(this.id)}`, { signal: this.abort.signal })
          .then((s) => { this.session = s; this.renderFacts(); this.queueDraw(); })
          .catch(handleError);
      }, 200);
    },

    renderFacts() {
      const s = this.session;
      const c = s.counters || {};
      $('#session-state').replaceChildren(badge(s.state));
      const fact = (k, v, cls) => el('div', {}, el('dt', { text: k }), el('dd', { class: cls, title: String(v ?? ''), text: v ?? '–' }));
      $('#session-facts').replaceChildren(
        fact('Call', s.call_id, 'mono'),
        fact('User', s.user_id, 'mono'),
        fact('SFU node', s.sfu_url, 'mono'),
        fact('SFU session', s.sfu_session_id, 'mono'),
        fact('Generation', s.generation, 'mono'),
        fact('Losses / reconnects / failed', `${num(c.losses)} / ${num(c.reconnects)} / ${num(c.failed_reconnects)}`),
        fact('Current attempt', s.current_attempt ? `#${s.current_attempt}` : 'none'),
        fact('Dialect', s.dialect),
        fact('Created', fmtDateTime(s.created_at_ms)),
        fact('Updated', fmtDateTime(s.updated_at_ms)),
        fact(s.ended_at_ms ? 'Ended' : 'Age', s.ended_at_ms ? `${fmtDateTime(s.ended_at_ms)}${s.end_reason ? ` · ${s.end_reason}` : ''}` : fmtAge(Date.now() - num(s.created_at_ms))),
        fact('Nodes', (s.sfu_urls || []).map(nodeName).join(', '), 'mono'),
      );
    },

    eventRow(ev, fresh) {
      const t0 = this.events.length ? this.events[0].time_ms : ev.time_ms;
      const details = el('td', { class: 'details' });
      for (const [k, v] of eventDetails(ev)) {
        details.append(el('span', { class: 'k', text: `${k}=` }), `${v}  `);
      }
      return el('tr', { class: fresh ? 'fresh' : null, data: { eventId: ev.id, type: ev.type } },
        el('td', { class: 'num mono', text: ev.id }),
        el('td', { class: 'mono', text: fmtDateTime(ev.time_ms) }),
        el('td', { class: 'num mono', text: ev.time_ms - t0 }),
        el('td', { class: 'num mono', text: ev.generation }),
        el('td', { class: `type t-${ev.type}`, text: ev.type }),
        details);
    },

    renderEvents() {
      this.events.sort((a, b) => a.id - b.id);
      $('#events-table tbody').replaceChildren(...this.events.map((ev) => this.eventRow(ev, false)));
      this.countEvents();
    },

    countEvents() {
      $('#events-count').textContent = `${this.events.length} events, oldest first${this.truncated ? ` (the first ${this.events.length} only)` : ''}`;
    },

    queueDraw() {
      if (this.drawQueued) return;
      this.drawQueued = true;
      requestAnimationFrame(() => {
        this.drawQueued = false;
        if (current && current.view === this && this.session) this.draw();
      });
    },

    draw() {
      const model = buildTimeline(this.events, this.session, Date.now());
      const rows = () => document.querySelectorAll('#events-table tbody tr');
      drawTimeline($('#timeline-wrap'), model, {
        linear: $('#timeline-linear').checked,
        hooks: {
          hover: (ids) => {
            const set = new Set(ids.map(String));
            for (const tr of rows()) tr.classList.toggle('hot', set.has(tr.dataset.eventId));
          },
          select: (ids) => {
            const tr = ids.length && document.querySelector(`#events-table tbody tr[data-event-id="${ids[0]}"]`);
            if (tr) tr.scrollIntoView({ block: 'center', behavior: 'smooth' });
          },
        },
      });
      const spanCount = model.spans.length;
      $('#timeline-note').textContent = `${model.losses.length} loss${model.losses.length === 1 ? '' : 'es'}, ${spanCount} reconnection${spanCount === 1 ? '' : 's'}, ${model.gens.length} generation${model.gens.length === 1 ? '' : 's'} over ${fmtDuration(model.t1 - model.t0)}. ${$('#timeline-linear').checked ? 'Linear time.' : 'Time is compressed between events (log of each gap) so short reconnections stay visible; tick labels are real offsets.'} Hover a mark for its event; click to find it below.`;
    },
  };

  // ---------------------------------------------------------------- overview

  /** Horizontal bars: rows of [label, value, class]. */
  function barChart(rows, { emptyText }) {
    if (!rows.length) return el('p', { class: 'note', text: emptyText });
    const W = 560;
    const rowH = 24;
    const labelW = 190;
    const valueW = 56;
    const max = Math.max(1, ...rows.map((r) => r[1]));
    const root = svg('svg', { class: 'bars', width: '100%', height: rows.length * rowH + 4, viewBox: `0 0 ${W} ${rows.length * rowH + 4}`, preserveAspectRatio: 'xMinYMin meet' });
    rows.forEach(([label, value, cls], i) => {
      const y = i * rowH + 2;
      const w = ((W - labelW - valueW) * value) / max;
      root.append(
        svg('text', { class: 'bar-label', x: 0, y: y + 15, text: label }),
        svg('rect', { class: 'bar-track', x: labelW, y: y + 4, width: W - labelW - valueW, height: 14, rx: 2 }),
        svg('rect', { class: ['bar', cls], x: labelW, y: y + 4, width: Math.max(value ? 2 : 0, w), height: 14, rx: 2, data: { count: value } },
          svg('title', { text: `${label}: ${value}` })),
        svg('text', { class: 'bar-value', x: W - 4, y: y + 15, 'text-anchor': 'end', text: value }),
      );
    });
    return root;
  }

  /** A step of 1, 2 or 5 × 10^k that splits `max` into about `parts` ticks. */
  function niceStep(max, parts) {
    const raw = Math.max(1, max / parts);
    const mag = 10 ** Math.floor(Math.log10(raw));
    const step = [1, 2, 5, 10].map((m) => m * mag).find((v) => v >= raw);
    return Math.max(1, step);
  }

  function histogram(stats, width) {
    const buckets = stats.recovery_histogram;
    const wrap = el('div');
    if (!Array.isArray(buckets)) {
      wrap.append(el('p', { class: 'note', text: 'This server does not report a recovery-time histogram (recovery_histogram); only the percentiles above.' }));
      return wrap;
    }
    const W = Math.max(600, Math.floor(width || 1100));
    const H = 236;
    const left = 48;
    const right = W - 12;
    const top = 62; // the band above holds the percentile labels
    const bottom = H - 26;
    const n = Math.max(1, buckets.length);
    const slot = (right - left) / n;
    const step = niceStep(Math.max(1, ...buckets.map((b) => num(b.count))), 4);
    const max = step * Math.ceil(Math.max(1, ...buckets.map((b) => num(b.count))) / step);
    const root = svg('svg', { id: 'histogram', width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': 'Recovery time histogram' });
    for (let v = 0; v <= max; v += step) {
      const y = bottom - ((bottom - top) * v) / max;
      root.append(svg('line', { class: 'grid-line', x1: left, x2: right, y1: y, y2: y }));
      root.append(svg('text', { class: 'hist-axis', x: left - 6, y: y + 4, 'text-anchor': 'end', text: v }));
    }
    const bounds = [];
    buckets.forEach((b, i) => {
      const count = num(b.count);
      const overflow = b.le_ms == null;
      const prev = i > 0 ? buckets[i - 1].le_ms : null;
      const label = overflow ? `>${fmtBound(num(prev))}` : `≤${fmtBound(b.le_ms)}`;
      bounds.push(overflow ? null : b.le_ms);
      const h = ((bottom - top) * count) / max;
      const x = left + i * slot + 3;
      root.append(svg('rect', {
        class: ['hist-bar', overflow ? 'overflow' : ''], x: round1(x), y: round1(bottom - h), width: round1(slot - 6), height: round1(h),
        data: { count, le: overflow ? 'inf' : b.le_ms },
      }, svg('title', { text: `${label}: ${count} recover${count === 1 ? 'y' : 'ies'}` })));
      if (count) root.append(svg('text', { class: 'hist-count', x: round1(x + (slot - 6) / 2), y: round1(bottom - h - 4), 'text-anchor': 'middle', text: count }));
      root.append(svg('text', { class: 'hist-axis', x: round1(left + i * slot + slot / 2), y: bottom + 14, 'text-anchor': 'middle', text: label }));
    });
    root.append(svg('line', { class: 'axis-line', x1: left, x2: right, y1: bottom, y2: bottom }));

    // p50/p95/p99 as vertical lines inside the bucket each falls in (log-interpolated).
    const rt = stats.recovery_time || {};
    const place = (ms) => {
      let i = bounds.findIndex((le) => le != null && ms <= le);
      if (i < 0) i = n - 1;
      const hi = bounds[i];
      const lo = i > 0 ? num(bounds[i - 1]) : 0;
      let f = 0.5;
      if (hi != null) f = lo > 0 ? (Math.log(Math.max(ms, lo)) - Math.log(lo)) / (Math.log(hi) - Math.log(lo)) : ms / hi;
      return left + i * slot + 3 + Math.min(1, Math.max(0, f)) * (slot - 6);
    };
    [['p50', rt.p50_ms], ['p95', rt.p95_ms], ['p99', rt.p99_ms]].forEach(([name, ms], row) => {
      if (ms == null || !num(rt.count)) return;
      const x = round1(place(ms));
      const text = `${name} ${fmtDuration(ms)}`;
      const anchorEnd = x > right - 90;
      root.append(svg('g', { class: `pct pct-${name}`, data: { percentile: name, ms } },
        svg('line', { class: 'pct-line', x1: x, x2: x, y1: 6 + row * 14, y2: bottom }),
        svg('text', { class: 'pct-label', x: anchorEnd ? x - 4 : x + 4, y: 15 + row * 14, 'text-anchor': anchorEnd ? 'end' : 'start', text }),
        svg('title', { text: `${name}: ${ms} ms` })));
    });
    wrap.append(root);
    if (!num(rt.count)) wrap.append(el('p', { class: 'note', text: 'No recoveries in this window.' }));
    else wrap.append(el('p', { class: 'note', text: 'Recovery time is reconnected.duration_ms. Each bar counts the recoveries up to its bound and above the previous one; dashed lines mark p50, p95 and p99 inside the bucket each falls in.' }));
    return wrap;
  }

  function strategyTable(stats) {
    const rows = stats.reconnects_by_strategy || [];
    if (!rows.length) return el('p', { class: 'note', text: 'No reconnections in this window.' });
    const max = Math.max(1, ...rows.map((r) => Math.max(num(r.started), num(r.succeeded) + num(r.attempts_failed))));
    const bar = (r) => {
      const W = 300;
      const ok = (W * num(r.succeeded)) / max;
      const bad = (W * num(r.attempts_failed)) / max;
      return svg('svg', { class: 'bars', width: W, height: 14, viewBox: `0 0 ${W} 14` },
        svg('rect', { class: 'bar-track', x: 0, y: 2, width: W, height: 10, rx: 2 }),
        svg('rect', { class: ['bar', `s-${r.strategy}`], x: 0, y: 2, width: ok, height: 10 }, svg('title', { text: `succeeded: ${num(r.succeeded)}` })),
        svg('rect', { class: 'bar o-failed', x: ok, y: 2, width: bad, height: 10 }, svg('title', { text: `attempts failed: ${num(r.attempts_failed)}` })));
    };
    const delayed = Object.entries(stats.reconnects_delayed || {});
    return el('div', {},
      el('table', { class: 'data compact' },
        el('thead', {}, el('tr', {},
          el('th', { text: 'Strategy' }), el('th', { class: 'num', text: 'Started' }), el('th', { class: 'num', text: 'Succeeded' }),
          el('th', { class: 'num', text: 'Attempts failed' }), el('th', { title: 'succeeded (strategy colour), then failed attempts (red)', text: 'Outcomes' }))),
        el('tbody', {}, rows.map((r) => el('tr', { data: { strategy: r.strategy } },
          el('td', {}, el('span', { class: `badge strategy-${r.strategy}`, text: STRATEGY_LABEL[r.strategy] || r.strategy })),
          el('td', { class: 'num', text: r.started == null ? '–' : num(r.started) }),
          el('td', { class: 'num', text: num(r.succeeded) }),
          el('td', { class: ['num', num(r.attempts_failed) ? 'bad' : 'zero'], text: num(r.attempts_failed) }),
          el('td', {}, bar(r)))))),
      delayed.length ? el('p', { class: 'note', text: `Delayed before the first attempt (flapping): ${delayed.map(([k, v]) => `${k} ${v}`).join(', ')}` }) : null);
  }

  function groupsTable(groups) {
    return el('table', { class: 'data compact', id: 'overview-groups-table' },
      el('thead', {}, el('tr', {},
        el('th', { text: 'SFU node' }), el('th', { class: 'num', text: 'Losses' }), el('th', { class: 'num', text: 'Reconnects' }),
        el('th', { class: 'num', text: 'Recovered' }), el('th', { class: 'num', text: 'Gave up' }),
        el('th', { class: 'num', text: 'p50', title: 'From the rollups: within 2 % (relative_error)' }),
        el('th', { class: 'num', text: 'p95', title: 'From the rollups: within 2 % (relative_error)' }),
        el('th', { class: 'num', text: 'p99', title: 'From the rollups: within 2 % (relative_error)' }))),
      el('tbody', {}, groups.map((g) => {
        const rt = g.recovery_time || {};
        return el('tr', { data: { key: g.key } },
          el('td', { class: 'mono', title: g.key, text: g.key || '–' }),
          el('td', { class: ['num', num(g.losses) ? 'warn' : 'zero'], text: num(g.losses) }),
          el('td', { class: 'num', text: num(g.reconnects) }),
          el('td', { class: 'num', text: g.recovered != null ? num(g.recovered) : num(rt.count) }),
          el('td', { class: ['num', num(g.reconnects_failed) ? 'bad' : 'zero'], text: num(g.reconnects_failed) }),
          el('td', { class: 'num mono', text: fmtDuration(rt.p50_ms) }),
          el('td', { class: 'num mono', text: fmtDuration(rt.p95_ms) }),
          el('td', { class: 'num mono', text: fmtDuration(rt.p99_ms) }));
      })));
  }

  views.overview = {
    abort: null,
    tail: null,
    timer: 0,
    refreshTimer: 0,
    window: '1h',
    last: null,

    enter({ params }) {
      this.last = null;
      // Nothing of another window stays on screen while this one loads.
      for (const id of ['#overview-losses', '#overview-failed', '#overview-strategies', '#overview-histogram', '#overview-groups']) $(id).replaceChildren();
      for (const id of ['#overview-p50', '#overview-p95', '#overview-p99']) $(id).textContent = '–';
      const count = $('#overview-recovery-count');
      count.textContent = '–';
      delete count.dataset.sinceMs;
      delete count.dataset.untilMs;
      delete count.dataset.count;
      $('#overview-window').textContent = 'loading…';
      this.window = WINDOWS[params.get('window')] ? params.get('window') : '1h';
      for (const a of document.querySelectorAll('#window-picker a')) a.classList.toggle('active', a.dataset.window === this.window);
      this.abort = new AbortController();
      this.load().catch(handleError);
      this.timer = setInterval(() => this.load().catch(handleError), 30000);
      // New recoveries show up without a reload, a few seconds later at most.
      this.tail = new LiveTail({
        onEvent: (ev) => {
          if (!['connection_lost', 'reconnected', 'reconnect_failed', 'reconnect_started', 'reconnect_attempt_failed'].includes(ev.type)) return;
          if (this.refreshTimer) return;
          this.refreshTimer = setTimeout(() => { this.refreshTimer = 0; this.load().catch(handleError); }, 2000);
        },
      }).start();
    },

    leave() {
      if (this.abort) this.abort.abort();
      if (this.tail) this.tail.stop();
      this.tail = null;
      clearInterval(this.timer);
      clearTimeout(this.refreshTimer);
      this.refreshTimer = 0;
    },

    async load() {
      const until = Date.now();
      const since = until - WINDOWS[this.window];
      const stats = await api(`/v1/stats${query({ since, until, group_by: 'sfu_url' })}`, { signal: this.abort.signal });
      banner.hide();
      this.render(stats, since, until);
    },

    drawHistogram() {
      if (!this.last) return;
      const box = $('#overview-histogram');
      box.replaceChildren(histogram(this.last.stats, box.clientWidth));
    },

    render(stats, since, until) {
      $('#overview-window').textContent = `${WINDOW_LABELS[this.window]}: ${fmtDateTime(since)} → ${fmtDateTime(until)}`;
      const losses = Object.entries(stats.losses_by_reason || {}).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, num(v), `r-${k}`]);
      $('#overview-losses').replaceChildren(barChart(losses, { emptyText: 'No losses in this window.' }));
      const failed = Object.entries(stats.reconnects_failed || {}).sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, num(v), 'r-failed']);
      $('#overview-failed').replaceChildren(barChart(failed, { emptyText: 'No reconnection gave up in this window.' }));
      $('#overview-strategies').replaceChildren(strategyTable(stats));
      const rt = stats.recovery_time || {};
      const count = $('#overview-recovery-count');
      count.textContent = num(rt.count);
      // The exact window this page asked for, so a check can ask the API the same.
      count.dataset.sinceMs = stats.since_ms != null ? stats.since_ms : since;
      count.dataset.untilMs = stats.until_ms != null ? stats.until_ms : until;
      count.dataset.count = num(rt.count);
      $('#overview-p50').textContent = fmtDuration(rt.p50_ms);
      $('#overview-p95').textContent = fmtDuration(rt.p95_ms);
      $('#overview-p99').textContent = fmtDuration(rt.p99_ms);
      // The percentiles come from the rollups' log-scale buckets: say how close they are.
      const bound = typeof rt.relative_error === 'number' ? `±${Math.round(rt.relative_error * 100)} %` : 'exact';
      const precision = $('#overview-precision');
      precision.textContent = `percentiles from rollups, ${bound}`;
      precision.dataset.relativeError = rt.relative_error != null ? rt.relative_error : '';
      this.last = { stats, since, until };
      this.drawHistogram();
      const groups = Array.isArray(stats.groups) ? stats.groups : null;
      $('#overview-groups-card').hidden = !groups;
      if (groups) {
        $('#overview-groups').replaceChildren(groups.length ? groupsTable(groups) : el('p', { class: 'note', text: 'No SFU node saw activity in this window.' }));
      }
    },
  };

  // ---------------------------------------------------------------- boot

  function boot() {
    setupSignIn();
    setupSessionsControls();
    $('#signout').hidden = !auth.token;
    $('#timeline-linear').addEventListener('change', () => views.session.queueDraw());
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(() => {
        if (current && current.name === 'session') views.session.queueDraw();
        if (current && current.name === 'overview') views.overview.drawHistogram();
      }, 150);
    });
    window.addEventListener('hashchange', () => router.route());
    window.addEventListener('unhandledrejection', (e) => { e.preventDefault(); handleError(e.reason); });
    if (!location.hash) history.replaceState(null, '', '#/sessions');
    router.route();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
