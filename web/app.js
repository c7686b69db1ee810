// edgevision dashboard: plain JS, no build step, no third-party code. Everything it shows comes
// from the REST API of the same origin; data is only ever inserted as text (never as HTML).
'use strict';

const TOKEN_KEY = 'edgevision.token';
const MAX_EVENTS = 50;
const CAMERA_MS = 1000, SNAPSHOT_MS = 1000, METRICS_MS = 5000, HEALTH_MS = 5000;

let token = sessionStorage.getItem(TOKEN_KEY) || '';
const tiles = new Map();  // camera id -> {root, img, placeholder, fields, url, busy}

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

class Unauthorized extends Error {}

// Every API call carries the token, which is why snapshots and events go through fetch()
// rather than <img src> / EventSource (neither can send an Authorization header).
async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (token) headers.set('Authorization', 'Bearer ' + token);
  const res = await fetch(path, {...options, headers, cache: 'no-store'});
  if (res.status === 401) {
    showTokenForm(token ? 'That token was not accepted.' : '');
    throw new Unauthorized();
  }
  return res;
}

function showTokenForm(message) {
  $('token-form').hidden = false;
  $('token-error').textContent = message || '';
  $('token-input').focus();
}

$('token-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  token = $('token-input').value.trim();
  // sessionStorage: gone when the tab closes, never sent anywhere but this origin's API.
  if (token) sessionStorage.setItem(TOKEN_KEY, token); else sessionStorage.removeItem(TOKEN_KEY);
  $('token-input').value = '';
  $('token-form').hidden = true;
  $('token-button').hidden = false;
  refreshAll();
  restartEvents();
});
$('token-button').addEventListener('click', () => showTokenForm(''));
if (token) $('token-button').hidden = false;

function fmt(n, digits = 1) {
  return typeof n === 'number' && isFinite(n) ? n.toFixed(digits) : '–';
}

function makeTile(cam) {
  const root = el('div', 'tile');
  root.dataset.camera = cam.id;
  const view = el('div', 'view');
  const img = el('img');
  img.alt = 'anonymized view of ' + cam.id;
  img.hidden = true;
  const placeholder = el('div', 'placeholder', 'waiting for the first frame…');
  view.append(img, placeholder);
  const title = el('div', 'title');
  const name = el('b', null, cam.id);
  const state = el('span', 'state');
  title.append(name, state);
  const source = el('div', 'source');
  const stats = el('div', 'stats');
  const fields = {state, source};
  for (const [key, label] of [['fps', 'fps in/out'], ['latency', 'latency ms'],
                              ['dropped', 'dropped'], ['faces', 'faces']]) {
    const d = el('div', null, label);
    const v = el('span');
    v.className = 'stat-' + key;
    d.prepend(v);
    stats.append(d);
    fields[key] = v;
  }
  root.append(view, title, source, stats);
  return {root, img, placeholder, fields, url: null, busy: false};
}

function updateTile(t, cam) {
  t.fields.state.textContent = cam.state;
  t.fields.state.className = 'state ' + cam.state;
  t.fields.state.title = cam.error || '';
  t.fields.source.textContent = cam.source;
  t.fields.fps.textContent = fmt(cam.fps_in) + ' / ' + fmt(cam.fps_out);
  t.fields.latency.textContent = fmt(cam.latency_ms);
  t.fields.dropped.textContent = String(cam.frames_dropped);
  t.fields.faces.textContent = String(cam.faces_anonymized);
}

async function refreshCameras() {
  const res = await api('/cameras');
  if (!res.ok) return;
  const cams = await res.json();
  const seen = new Set();
  for (const cam of cams) {
    seen.add(cam.id);
    let t = tiles.get(cam.id);
    if (!t) {
      t = makeTile(cam);
      tiles.set(cam.id, t);
      $('cameras').append(t.root);
      refreshSnapshot(cam.id, t);
    }
    updateTile(t, cam);
  }
  for (const [id, t] of tiles) {
    if (!seen.has(id)) {
      if (t.url) URL.revokeObjectURL(t.url);
      t.root.remove();
      tiles.delete(id);
    }
  }
  $('no-cameras').hidden = cams.length > 0;
}

async function refreshSnapshot(id, t) {
  if (t.busy) return;  // never stack requests on a slow link
  t.busy = true;
  try {
    const res = await api('/cameras/' + encodeURIComponent(id) + '/snapshot.jpg');
    if (res.status === 503) {
      t.placeholder.textContent = 'waiting for the first frame…';
      return;
    }
    if (!res.ok) {
      t.placeholder.textContent = 'snapshot unavailable (' + res.status + ')';
      return;
    }
    const url = URL.createObjectURL(await res.blob());
    const old = t.url;
    t.url = url;
    t.img.onload = () => {
      t.img.hidden = false;
      t.placeholder.hidden = true;
      if (old) URL.revokeObjectURL(old);
    };
    t.img.src = url;
  } catch (e) {
    if (!(e instanceof Unauthorized)) t.placeholder.textContent = 'offline';
  } finally {
    t.busy = false;
  }
}

async function refreshHealth() {
  const badge = $('health');
  try {
    const res = await fetch('/health', {cache: 'no-store'});
    const h = await res.json();
    badge.textContent = h.status || ('HTTP ' + res.status);
    badge.className = 'badge ' + (h.status === 'ok' ? 'ok' : h.status === 'degraded' ? 'degraded' : 'bad');
  } catch (e) {
    badge.textContent = 'offline';
    badge.className = 'badge bad';
  }
}

async function refreshMetrics() {
  const res = await api('/metrics');
  if (!res.ok) return;
  const text = await res.text();
  // HELP/TYPE comments double the length and are in docs/api.md; show samples only.
  $('metrics').textContent = text.split('\n').filter((l) => l && !l.startsWith('#')).join('\n');
}

function addEvent(e) {
  const li = el('li');
  li.dataset.type = e.type || '';
  const t = typeof e.frame_time === 'number' ? new Date(e.frame_time * 1000) : new Date();
  const time = el('time', null, t.toLocaleTimeString([], {hour12: false}));
  time.dateTime = t.toISOString();
  const what = el('span');
  what.append(el('span', 'type', e.type || 'event'), document.createTextNode(
      ' ' + [e.camera, e['class'], e.track_id !== undefined ? '#' + e.track_id : '']
                .filter(Boolean).join(' ')));
  li.append(time, what);
  const list = $('events');
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

// Server-Sent Events read through fetch() so the Authorization header can be sent.
let eventsAbort = null;
let eventsBackoff = 1000;
async function runEvents() {
  const controller = new AbortController();
  eventsAbort = controller;
  const state = $('events-state');
  try {
    const res = await api('/events', {signal: controller.signal});
    if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
    state.textContent = 'live';
    eventsBackoff = 1000;
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += decoder.decode(value, {stream: true});
      let end;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const data = block.split('\n').filter((l) => l.startsWith('data:'))
                          .map((l) => l.slice(5).trimStart()).join('\n');
        if (!data) continue;
        try { addEvent(JSON.parse(data)); } catch (e) { /* not JSON: skip */ }
      }
    }
    throw new Error('stream ended');
  } catch (e) {
    if (controller.signal.aborted) return;
    if (e instanceof Unauthorized) { state.textContent = 'needs token'; return; }
    state.textContent = 'reconnecting…';
    setTimeout(() => { if (eventsAbort === controller) runEvents(); }, eventsBackoff);
    eventsBackoff = Math.min(eventsBackoff * 2, 15000);
  }
}
function restartEvents() {
  if (eventsAbort) eventsAbort.abort();
  runEvents();
}

function every(ms, fn) {
  const tick = () => fn().catch(() => {});
  tick();
  return setInterval(tick, ms);
}
function refreshAll() {
  refreshCameras().catch(() => {});
  refreshMetrics().catch(() => {});
}

every(HEALTH_MS, refreshHealth);
every(CAMERA_MS, refreshCameras);
every(METRICS_MS, refreshMetrics);
setInterval(() => { for (const [id, t] of tiles) refreshSnapshot(id, t); }, SNAPSHOT_MS);
runEvents();
