// edgevision dashboard: plain JS, no build step, no third-party code. Everything it shows comes
// from the REST API of the same origin; data is only ever inserted as text (never as HTML).
// Images are the server's anonymized frames; event thumbnails are kept by the server (cut from
// the frame each event was kept with, on the first request).
'use strict';

const TOKEN_KEY = 'edgevision.token';
const MAX_EVENTS = 200;
const CAMERA_MS = 1000, SNAPSHOT_MS = 1000, METRICS_MS = 2000, HEALTH_MS = 5000;
const HISTORY = 60;             // chart points (2 minutes at METRICS_MS)
const FAR_BELOW_CAP = 0.5;      // fps out under half the cap is shown as a problem
const BOX_COLOR = '#00e676', ZONE_COLOR = '#40c4ff', LINE_COLOR = '#ffab40';
const SCENE_MS = 2000;

let token = sessionStorage.getItem(TOKEN_KEY) || '';
const tiles = new Map();  // camera id -> tile state
let cameraList = [];

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

class Unauthorized extends Error {}

// Every API call carries the token, which is why frames and events go through fetch()
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
  for (const t of tiles.values()) stopLive(t);
  refreshAll();
  restartEvents();
});
$('token-button').addEventListener('click', () => showTokenForm(''));
if (token) $('token-button').hidden = false;

// ---- views ----------------------------------------------------------------------------
function showView(name) {
  for (const b of document.querySelectorAll('#tabs button'))
    b.classList.toggle('active', b.dataset.view === name);
  for (const s of document.querySelectorAll('main > .view')) s.hidden = s.id !== 'view-' + name;
  if (name === 'metrics') drawCharts();
  if (name === 'zones') loadZoneFrame();
  if (location.hash !== '#' + name) history.replaceState(null, '', '#' + name);
}
for (const b of document.querySelectorAll('#tabs button'))
  b.addEventListener('click', () => showView(b.dataset.view));

function fmt(n, digits = 1) {
  return typeof n === 'number' && isFinite(n) ? n.toFixed(digits) : '–';
}

// What an operator needs to know about a camera, in words and a colour.
function cameraHealth(cam) {
  if (cam.state === 'failed') return {level: 'bad', text: 'failing: ' + (cam.error || 'error')};
  if (cam.state === 'reconnecting')
    return {level: 'warn', text: 'reconnecting' + (cam.error ? ': ' + cam.error : '')};
  if (cam.state === 'starting') return {level: 'warn', text: 'starting'};
  if (cam.state === 'stopped') return {level: 'bad', text: 'stopped' + (cam.error ? ': ' + cam.error : '')};
  if (cam.state === 'running' && cam.fps_cap > 0 && cam.fps_out < FAR_BELOW_CAP * cam.fps_cap)
    return {level: 'warn', text: `far below cap: ${fmt(cam.fps_out)} of ${fmt(cam.fps_cap, 0)} fps`};
  return {level: 'ok', text: cam.state || 'unknown'};
}

// ---- live view ------------------------------------------------------------------------
function makeTile(cam) {
  const root = el('div', 'tile');
  root.dataset.camera = cam.id;
  root.dataset.frames = '0';
  const view = el('div', 'view');
  const canvas = el('canvas');
  canvas.hidden = true;
  canvas.setAttribute('aria-label', 'anonymized live view of ' + cam.id);
  const placeholder = el('div', 'placeholder', 'waiting for the first frame…');
  view.append(canvas, placeholder);
  const title = el('div', 'title');
  const state = el('span', 'state');
  title.append(el('b', null, cam.id), state);
  const source = el('div', 'source');
  const stats = el('div', 'stats');
  const fields = {state, source};
  for (const [key, label] of [
           ['fps', 'fps in/out'], ['latency', 'latency ms'], ['dropped', 'dropped'],
           ['tracks', 'tracks'], ['reconnects', 'reconnects']]) {
    const d = el('div', null, label);
    const v = el('span');
    v.className = 'stat-' + key;
    d.prepend(v);
    stats.append(d);
    fields[key] = v;
  }
  // Line crossings per direction and zone occupancy, next to the image.
  const counts = el('ul', 'counts');
  counts.hidden = true;
  fields.counts = counts;
  root.append(view, title, source, stats, counts);
  // raw: the last frame without overlays, for the zone editor.
  return {
    id: cam.id,
    root,
    canvas,
    placeholder,
    fields,
    raw: null,
    abort: null,
    live: false,
    busy: false,
    retryAt: 0,
    cam,
    scene: null,
    sceneBusy: false,
    sceneAt: 0
  };
}

function updateTile(t, cam) {
  t.cam = cam;
  const h = cameraHealth(cam);
  t.fields.state.textContent = h.text;
  t.fields.state.className = 'state ' + h.level;
  t.fields.state.title = cam.error || h.text;
  t.root.classList.toggle('warn', h.level === 'warn');
  t.root.classList.toggle('bad', h.level === 'bad');
  t.fields.source.textContent = cam.source;
  t.fields.fps.textContent = fmt(cam.fps_in) + ' / ' + fmt(cam.fps_out);
  t.fields.latency.textContent = fmt(cam.latency_ms);
  t.fields.dropped.textContent = String(cam.frames_dropped);
  t.fields.tracks.textContent = String(cam.active_tracks);
  t.fields.reconnects.textContent = String(cam.reconnects ?? 0);
  if (cam.state === 'failed' && !t.raw) t.placeholder.textContent = 'no video: ' + (cam.error || 'failed');
}

async function showFrame(t, blob, tracks) {
  const bmp = await createImageBitmap(blob);
  if (!t.raw) t.raw = document.createElement('canvas');
  t.raw.width = bmp.width;
  t.raw.height = bmp.height;
  t.raw.getContext('2d').drawImage(bmp, 0, 0);
  const c = t.canvas;
  c.width = bmp.width;
  c.height = bmp.height;
  const g = c.getContext('2d');
  g.drawImage(bmp, 0, 0);
  bmp.close();
  drawScene(g, t.scene, c.width);
  drawTracks(g, tracks || [], c.width);
  t.tracks = tracks || [];
  t.root.dataset.tracks = JSON.stringify(t.tracks);
  t.root.dataset.frames = String(Number(t.root.dataset.frames) + 1);
  c.hidden = false;
  t.placeholder.hidden = true;
}

function drawTracks(g, tracks, width) {
  const lw = Math.max(2, Math.round(width / 320));
  g.lineWidth = lw;
  g.font = `${10 + 2 * lw}px system-ui, sans-serif`;
  g.textBaseline = 'top';
  for (const tr of tracks) {
    if (!Array.isArray(tr.box) || tr.box.length !== 4) continue;
    const [x, y, w, h] = tr.box;
    g.strokeStyle = BOX_COLOR;
    g.strokeRect(x, y, w, h);
    const label = `${tr.class || '?'} #${tr.id}`;
    const tw = g.measureText(label).width + 6;
    const th = 12 + 2 * lw;
    const ly = y - th >= 0 ? y - th : y;
    g.fillStyle = BOX_COLOR;
    g.fillRect(x, ly, tw, th);
    g.fillStyle = '#000';
    g.fillText(label, x + 3, ly + 1);
  }
}

// Zones and lines arrive in full-frame pixels; the frame is the camera's roi crop.
function sceneOffset(scene) {
  const r = scene && Array.isArray(scene.roi) ? scene.roi : [0, 0, 0, 0];
  return r[2] > 0 && r[3] > 0 ? [r[0], r[1]] : [0, 0];
}

// The "in" side of a line: a point crossing from the negative to the positive side of
// (x2-x1)*(y-y1) - (y2-y1)*(x-x1) counts as in (docs/configuration.md), so the arrow points
// along the gradient (-(y2-y1), x2-x1).
function inNormal([x1, y1], [x2, y2]) {
  const nx = -(y2 - y1), ny = x2 - x1, n = Math.hypot(nx, ny) || 1;
  return [nx / n, ny / n];
}

function label(g, text, x, y, color, lw) {
  const tw = g.measureText(text).width + 6, th = 12 + 2 * lw;
  g.fillStyle = 'rgba(0,0,0,.6)';
  g.fillRect(x, y, tw, th);
  g.fillStyle = color;
  g.fillText(text, x + 3, y + 1);
}

function drawScene(g, scene, width) {
  if (!scene) return;
  const [ox, oy] = sceneOffset(scene);
  const lw = Math.max(2, Math.round(width / 320));
  g.lineWidth = lw;
  g.font = `${10 + 2 * lw}px system-ui, sans-serif`;
  g.textBaseline = 'top';
  for (const z of scene.zones || []) {
    if (!Array.isArray(z.polygon) || z.polygon.length < 3) continue;
    g.beginPath();
    z.polygon.forEach(([x, y], i) => (i ? g.lineTo(x - ox, y - oy) : g.moveTo(x - ox, y - oy)));
    g.closePath();
    g.fillStyle = 'rgba(64,196,255,.15)';
    g.fill();
    g.strokeStyle = ZONE_COLOR;
    g.stroke();
    const [x0, y0] = z.polygon[0];
    label(g, `${z.name}: ${z.occupancy ?? 0}`, x0 - ox + lw, y0 - oy + lw, ZONE_COLOR, lw);
  }
  for (const l of scene.lines || []) {
    if (!Array.isArray(l.points) || l.points.length !== 2) continue;
    const [[x1, y1], [x2, y2]] = l.points.map(([x, y]) => [x - ox, y - oy]);
    g.strokeStyle = LINE_COLOR;
    g.fillStyle = LINE_COLOR;
    g.beginPath();
    g.moveTo(x1, y1);
    g.lineTo(x2, y2);
    g.stroke();
    const [nx, ny] = inNormal([x1, y1], [x2, y2]);
    const mx = (x1 + x2) / 2, my = (y1 + y2) / 2, len = 10 + 4 * lw;
    const tx = mx + nx * len, ty = my + ny * len;
    g.beginPath();
    g.moveTo(mx, my);
    g.lineTo(tx, ty);
    g.stroke();
    // Arrow head.
    g.beginPath();
    g.moveTo(tx + nx * 2 * lw, ty + ny * 2 * lw);
    g.lineTo(tx - ny * 2 * lw, ty + nx * 2 * lw);
    g.lineTo(tx + ny * 2 * lw, ty - nx * 2 * lw);
    g.closePath();
    g.fill();
    label(
        g, `${l.name} in ${l.in ?? 0} / out ${l.out ?? 0}`, Math.min(x1, x2) + lw,
        Math.min(y1, y2) + lw, LINE_COLOR, lw);
  }
}

function renderCounts(t) {
  const s = t.scene;
  const items = [];
  for (const l of (s && s.lines) || [])
    items.push(['line', `${l.name}: in ${l.in ?? 0} · out ${l.out ?? 0}`]);
  for (const z of (s && s.zones) || [])
    items.push(['zone', `${z.name}: ${z.occupancy ?? 0} inside`]);
  const ul = t.fields.counts;
  ul.replaceChildren(...items.map(([kind, text]) => el('li', kind, text)));
  ul.hidden = items.length === 0;
}

async function refreshScene(t) {
  if (t.sceneBusy || Date.now() < t.sceneAt) return;
  t.sceneBusy = true;
  try {
    const res = await api('/cameras/' + encodeURIComponent(t.id) + '/scene');
    if (!res.ok) return;
    t.scene = await res.json();
    t.root.dataset.scene =
        JSON.stringify({zones: t.scene.zones, lines: t.scene.lines, roi: t.scene.roi});
    renderCounts(t);
  } catch (e) {
    /* next round */
  } finally {
    t.sceneBusy = false;
    t.sceneAt = Date.now() + SCENE_MS;
  }
}

function indexOf(buf, pat, from = 0) {
  outer: for (let i = from; i + pat.length <= buf.length; i++) {
    for (let j = 0; j < pat.length; j++) if (buf[i + j] !== pat[j]) continue outer;
    return i;
  }
  return -1;
}
const CRLFCRLF = [13, 10, 13, 10];

// The server pushes frames (multipart JPEG parts, tracks in an X-Tracks header) as the camera
// produces them; read through fetch() for the token. Falls back to 1 Hz snapshots when the
// stream is refused (too many streams) or breaks, and tries the stream again later.
async function runLive(t) {
  const controller = new AbortController();
  t.abort = controller;
  try {
    const res = await api('/cameras/' + encodeURIComponent(t.id) + '/live', {signal: controller.signal});
    if (!res.ok || !res.body) throw new Error('HTTP ' + res.status);
    t.live = true;
    t.root.dataset.mode = 'push';
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = new Uint8Array(0);
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      const joined = new Uint8Array(buf.length + value.length);
      joined.set(buf);
      joined.set(value, buf.length);
      buf = joined;
      for (;;) {
        const he = indexOf(buf, CRLFCRLF);
        if (he < 0) break;
        const head = decoder.decode(buf.subarray(0, he));
        const m = /content-length:\s*(\d+)/i.exec(head);
        const len = m ? Number(m[1]) : 0;
        if (buf.length < he + 4 + len) break;
        const body = buf.slice(he + 4, he + 4 + len);
        buf = buf.slice(he + 4 + len);
        if (!/content-type:\s*image\/jpeg/i.test(head)) continue;
        let tracks = [];
        const tm = /x-tracks:\s*(.*)/i.exec(head);
        if (tm) { try { tracks = JSON.parse(tm[1]); } catch (e) { tracks = []; } }
        await showFrame(t, new Blob([body], {type: 'image/jpeg'}), tracks);
      }
    }
    throw new Error('stream ended');
  } catch (e) {
    t.live = false;
    t.root.dataset.mode = 'poll';
    if (controller.signal.aborted || e instanceof Unauthorized) return;
    t.retryAt = Date.now() + 5000;
  } finally {
    if (t.abort === controller) t.abort = null;
  }
}

function stopLive(t) {
  if (t.abort) t.abort.abort();
  t.abort = null;
  t.live = false;
}

async function refreshSnapshot(t) {
  if (t.busy || t.live || t.abort) return;  // never stack requests on a slow link
  t.busy = true;
  try {
    const res = await api('/cameras/' + encodeURIComponent(t.id) + '/snapshot.jpg');
    if (res.status === 503) {
      if (!t.raw) t.placeholder.textContent = 'waiting for the first frame…';
      return;
    }
    if (!res.ok) {
      if (!t.raw) t.placeholder.textContent = 'snapshot unavailable (' + res.status + ')';
      return;
    }
    await showFrame(t, await res.blob(), t.tracks || []);
  } catch (e) {
    if (!(e instanceof Unauthorized) && !t.raw) t.placeholder.textContent = 'offline';
  } finally {
    t.busy = false;
  }
}

function tickLive() {
  for (const t of tiles.values()) {
    if (t.cam && t.cam.state === 'failed') { stopLive(t); continue; }
    if (!t.abort && Date.now() >= t.retryAt) runLive(t);
    else if (!t.live) refreshSnapshot(t);
  }
}

async function refreshCameras() {
  const res = await api('/cameras');
  if (!res.ok) return;
  const cams = await res.json();
  cameraList = cams;
  const seen = new Set();
  for (const cam of cams) {
    seen.add(cam.id);
    let t = tiles.get(cam.id);
    if (!t) {
      t = makeTile(cam);
      tiles.set(cam.id, t);
      $('cameras').append(t.root);
    }
    updateTile(t, cam);
    refreshScene(t);
  }
  for (const [id, t] of tiles) {
    if (!seen.has(id)) {
      stopLive(t);
      t.root.remove();
      tiles.delete(id);
    }
  }
  $('no-cameras').hidden = cams.length > 0;
  renderHealthTable(cams);
  fillSelect($('f-camera'), cams.map((c) => c.id));
  fillSelect($('zone-camera'), cams.map((c) => c.id), false);
  tickLive();
}

function fillSelect(sel, values, withAll = true) {
  const have = [...sel.options].map((o) => o.value).filter((v) => v !== '');
  const want = [...new Set(values)].sort();
  if (JSON.stringify(have) === JSON.stringify(want)) return;
  const current = sel.value;
  sel.replaceChildren();
  if (withAll) sel.append(new Option('all', ''));
  for (const v of want) sel.append(new Option(v, v));
  if ([...sel.options].some((o) => o.value === current)) sel.value = current;
}

// ---- camera health ----------------------------------------------------------------------
// Rows are updated in place (not rebuilt every second), so they can be selected and read.
function renderHealthTable(cams) {
  const body = $('health-table').tBodies[0];
  const rows = new Map([...body.rows].map((r) => [r.dataset.camera, r]));
  cams.forEach((cam, i) => {
    let tr = rows.get(cam.id);
    if (!tr) {
      tr = el('tr');
      tr.dataset.camera = cam.id;
      const status = el('td', 'status');
      status.append(el('span'));
      tr.append(
          el('td', null, cam.id), status, el('td', 'fps'), el('td', 'latency'), el('td', 'dropped'),
          el('td', 'skipped'), el('td', 'failed'), el('td', 'reconnects'), el('td', 'model'));
    }
    if (body.rows[i] !== tr) body.insertBefore(tr, body.rows[i] || null);
    rows.delete(cam.id);
    const h = cameraHealth(cam);
    tr.dataset.level = h.level;
    const span = tr.querySelector('.status span');
    span.className = h.level;
    span.textContent = h.text;
    const cap = cam.fps_cap > 0 ? fmt(cam.fps_cap, 0) : 'none';
    tr.querySelector('.fps').textContent = `${fmt(cam.fps_in)} / ${fmt(cam.fps_out)} / ${cap}`;
    tr.querySelector('.latency').textContent = fmt(cam.latency_ms);
    tr.querySelector('.dropped').textContent = String(cam.frames_dropped);
    tr.querySelector('.skipped').textContent = String(cam.behind_skipped ?? 0);
    tr.querySelector('.failed').textContent = String(cam.frames_failed ?? 0);
    tr.querySelector('.reconnects').textContent = String(cam.reconnects ?? 0);
    tr.querySelector('.model').textContent = cam.model_version || '–';
  });
  for (const tr of rows.values()) tr.remove();
}

async function refreshHealth() {
  const badge = $('health');
  try {
    const res = await fetch('/health', {cache: 'no-store'});
    const h = await res.json();
    badge.textContent = h.status || ('HTTP ' + res.status);
    badge.className = 'badge ' + (h.status === 'ok' ? 'ok' : h.status === 'degraded' ? 'degraded' : 'bad');
    badge.title = h.reason || (h.degraded ? JSON.stringify(h.degraded) : 'GET /health');
  } catch (e) {
    badge.textContent = 'offline';
    badge.className = 'badge bad';
  }
}

// ---- events -----------------------------------------------------------------------------
const events = [];  // newest first: {e, received, thumb, frame}

function eventTime(e, received) {
  if (typeof e.time === 'string' && !isNaN(Date.parse(e.time))) return new Date(e.time);
  return new Date(received);
}

// Thumbnails and frames are kept by the server (a bounded ring; anonymized like every frame it
// serves), so events from before the page was opened have them too. Fetched one at a time
// (with the token) into blob: URLs that are revoked when the event leaves the list.
const thumbQueue = [];
let thumbBusy = false;

function eventKey(e) { return typeof e.event_id === 'string' ? e.event_id : null; }

function snapshotPath(e) {
  // A scene event may carry its own reference; otherwise the server's ring has it.
  if (typeof e.snapshot === 'string' && e.snapshot.startsWith('/')) return e.snapshot;
  const k = eventKey(e);
  return k ? '/events/' + encodeURIComponent(k) + '/snapshot.jpg' : null;
}

async function loadThumbs() {
  if (thumbBusy) return;
  thumbBusy = true;
  try {
    while (thumbQueue.length) {
      // The one due first (retries wait longer than new events).
      let next = 0;
      for (let i = 1; i < thumbQueue.length; i++) {
        if (thumbQueue[i].thumbAt < thumbQueue[next].thumbAt) next = i;
      }
      const wait = thumbQueue[next].thumbAt - Date.now();
      if (wait > 0) {
        await new Promise((r) => setTimeout(r, Math.min(wait, 1000)));
        continue;
      }
      const rec = thumbQueue.splice(next, 1)[0];
      if (rec.dropped || rec.thumb) continue;
      let res;
      try {
        res = await api('/events/' + encodeURIComponent(eventKey(rec.e)) + '/thumb.jpg');
      } catch (e) {
        if (e instanceof Unauthorized) return;
        res = null;
      }
      if (res && res.ok) {
        rec.thumb = URL.createObjectURL(await res.blob());
        renderEventThumb(rec);
      } else if (++rec.thumbTries < 4) {
        // The server cuts it just after the event; give it a moment.
        rec.thumbAt = Date.now() + 500 * rec.thumbTries;
        thumbQueue.push(rec);
      } else {
        rec.thumbMissing = true;
        renderEventThumb(rec);
      }
    }
  } finally {
    thumbBusy = false;
  }
}

function captureEvent(e) {
  const rec = {
    e,
    received: Date.now(),
    thumb: null,
    thumbTries: 0,
    thumbAt: Date.now() + 200,
    thumbMissing: false,
    frame: null,
    li: null
  };
  if (eventKey(e))
    thumbQueue.push(rec);
  else
    rec.thumbMissing = true;
  loadThumbs();
  return rec;
}

function dropEvent(rec) {
  rec.dropped = true;
  if (rec.thumb) URL.revokeObjectURL(rec.thumb);
  if (rec.frame) URL.revokeObjectURL(rec.frame);
}

function renderEventThumb(rec) {
  if (!rec.li) return;
  const old = rec.li.querySelector('.thumb, .no-thumb');
  let node;
  if (rec.thumb) {
    node = el('img', 'thumb');
    node.src = rec.thumb;
    node.alt = 'anonymized thumbnail';
  } else {
    node = el('div', 'no-thumb');
    node.title = rec.thumbMissing ? 'no image kept for this event' : 'loading…';
  }
  if (old)
    old.replaceWith(node);
  else
    rec.li.prepend(node);
}

function addEvent(e) {
  events.unshift(captureEvent(e));
  while (events.length > MAX_EVENTS) dropEvent(events.pop());
  fillSelect($('f-type'), events.map((r) => r.e.type).filter(Boolean));
  fillSelect($('f-class'), events.map((r) => r.e['class']).filter(Boolean));
  renderEvents();
}

function matches(rec) {
  const e = rec.e;
  const cam = $('f-camera').value, type = $('f-type').value, cls = $('f-class').value;
  const zone = $('f-zone').value.trim().toLowerCase();
  const since = Number($('f-since').value);
  if (cam && e.camera !== cam) return false;
  if (type && e.type !== type) return false;
  if (cls && e['class'] !== cls) return false;
  if (zone && !String(e.zone || '').toLowerCase().includes(zone)) return false;
  if (since && Date.now() - eventTime(e, rec.received).getTime() > since * 1000) return false;
  return true;
}

function renderEvents() {
  const list = $('events');
  const shown = events.filter(matches);
  list.replaceChildren();
  for (const rec of shown.slice(0, 100)) {
    const e = rec.e;
    const li = el('li');
    li.dataset.type = e.type || '';
    li.dataset.camera = e.camera || '';
    rec.li = li;
    renderEventThumb(rec);
    const text = el('div');
    const t = eventTime(e, rec.received);
    const time = el('time', null, t.toLocaleTimeString([], {hour12: false}));
    time.dateTime = t.toISOString();
    text.append(time, el('span', 'type', e.type || 'event'), document.createTextNode(
        ' ' + [e.camera, e['class'], e.track_id !== undefined ? '#' + e.track_id : '', e.zone ? 'zone ' + e.zone : '']
                  .filter(Boolean).join(' ')));
    li.append(text);
    li.addEventListener('click', () => showEventDetail(rec));
    list.append(li);
  }
  $('events-count').textContent = `${shown.length} of ${events.length}`;
}
for (const id of ['f-camera', 'f-type', 'f-class', 'f-since'])
  $(id).addEventListener('change', renderEvents);
$('f-zone').addEventListener('input', renderEvents);
$('event-filters').addEventListener('submit', (ev) => ev.preventDefault());

async function showEventDetail(rec) {
  const e = rec.e;
  $('detail-title').textContent = `${e.type || 'event'} · ${e.camera || ''} ${e['class'] || ''}`;
  const img = $('detail-frame');
  $('detail-json').textContent = JSON.stringify(e, null, 2);
  img.hidden = !rec.frame;
  if (rec.frame) img.src = rec.frame;
  $('detail-note').textContent = '';
  $('event-detail').showModal();
  const path = snapshotPath(e);
  if (rec.frame || !path) {
    if (!path) $('detail-note').textContent = 'no snapshot for this event';
    return;
  }
  try {
    const res = await api(path);
    if (!res.ok) {
      $('detail-note').textContent =
          'no snapshot kept for this event (the server keeps the newest)';
      return;
    }
    rec.frame = URL.createObjectURL(await res.blob());
    img.src = rec.frame;
    img.hidden = false;
  } catch (err) {
    $('detail-note').textContent = 'snapshot unavailable';
  }
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

// ---- metrics charts ------------------------------------------------------------------
// Prometheus text -> [{name, labels, value}]
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    if (m[3]) for (const lm of m[3].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[lm[1]] = lm[2];
    out.push({name: m[1], labels, value: Number(m[4])});
  }
  return out;
}

// Quantile from cumulative histogram buckets (linear inside a bucket, like histogram_quantile).
function quantile(q, buckets) {
  const finite = buckets.filter((b) => isFinite(b.le)).sort((a, b) => a.le - b.le);
  const total = buckets.find((b) => !isFinite(b.le))?.count ?? finite.at(-1)?.count ?? 0;
  if (!(total > 0)) return NaN;
  const rank = q * total;
  let prevLe = 0, prevCount = 0;
  for (const b of finite) {
    if (b.count >= rank) return prevLe + (b.le - prevLe) * ((rank - prevCount) / Math.max(1e-9, b.count - prevCount));
    prevLe = b.le; prevCount = b.count;
  }
  return finite.at(-1)?.le ?? NaN;
}

const CHARTS = [
  {key: 'fps', title: 'FPS out per camera', unit: 'fps'},
  {key: 'latency', title: 'Frame latency p50 / p95 (ms)', unit: 'ms'},
  {key: 'inference', title: 'Inference time, mean (ms)', unit: 'ms'},
  {key: 'cpu', title: 'CPU (% of one core)', unit: '%'},
  {key: 'rss', title: 'Memory RSS (MiB)', unit: 'MiB'},
  {key: 'spool', title: 'Event spool depth per sink', unit: 'events'},
];
const series = new Map();  // chart key -> Map(series name -> [values])
let lastSample = null;     // {time, samples}

function push(chart, name, value) {
  if (!series.has(chart)) series.set(chart, new Map());
  const m = series.get(chart);
  if (!m.has(name)) m.set(name, []);
  const arr = m.get(name);
  arr.push(isFinite(value) ? value : null);
  if (arr.length > HISTORY) arr.shift();
}

function histograms(samples, base, key) {
  const by = new Map();  // label value -> {buckets, sum, count}
  for (const s of samples) {
    if (!s.name.startsWith(base + '_')) continue;
    const id = s.labels[key] || '';
    if (!by.has(id)) by.set(id, {buckets: [], sum: 0, count: 0});
    const h = by.get(id);
    if (s.name === base + '_bucket') h.buckets.push({le: s.labels.le === '+Inf' ? Infinity : Number(s.labels.le), count: s.value});
    else if (s.name === base + '_sum') h.sum = s.value;
    else if (s.name === base + '_count') h.count = s.value;
  }
  return by;
}

// Differences since the previous scrape, so charts show what happens now, not since start.
function delta(now, before) {
  if (!before) return now;
  return {sum: now.sum - before.sum, count: now.count - before.count,
          buckets: now.buckets.map((b) => ({le: b.le, count: b.count - (before.buckets.find((x) => x.le === b.le)?.count ?? 0)}))};
}

async function refreshMetrics() {
  const res = await api('/metrics');
  if (!res.ok) return;
  const samples = parseMetrics(await res.text());
  const now = Date.now();
  const fpsName = samples.some((s) => s.name === 'edgevision_fps_out') ? 'edgevision_fps_out' : 'edgevision_camera_fps';
  for (const s of samples) if (s.name === fpsName) push('fps', s.labels.camera || 'fps', s.value);
  const lat = histograms(samples, 'edgevision_frame_latency_seconds', 'camera');
  const inf = histograms(samples, 'edgevision_inference_seconds', 'camera');
  const prevLat = lastSample ? histograms(lastSample.samples, 'edgevision_frame_latency_seconds', 'camera') : null;
  const prevInf = lastSample ? histograms(lastSample.samples, 'edgevision_inference_seconds', 'camera') : null;
  for (const [cam, h] of lat) {
    const d = delta(h, prevLat?.get(cam));
    const use = d.count > 0 ? d : h;
    push('latency', cam + ' p50', quantile(0.5, use.buckets) * 1000);
    push('latency', cam + ' p95', quantile(0.95, use.buckets) * 1000);
  }
  for (const [cam, h] of inf) {
    const d = delta(h, prevInf?.get(cam));
    const use = d.count > 0 ? d : h;
    push('inference', cam, use.count > 0 ? use.sum / use.count * 1000 : NaN);
  }
  const cpu = samples.find((s) => s.name === 'process_cpu_seconds_total');
  const prevCpu = lastSample?.samples.find((s) => s.name === 'process_cpu_seconds_total');
  if (cpu && prevCpu) push('cpu', 'edgevision', 100 * (cpu.value - prevCpu.value) / ((now - lastSample.time) / 1000));
  const rss = samples.find((s) => s.name === 'process_resident_memory_bytes');
  if (rss) push('rss', 'rss', rss.value / 1048576);
  for (const s of samples) if (s.name === 'edgevision_spool_depth') push('spool', s.labels.sink || 'spool', s.value);
  lastSample = {time: now, samples};
  if (!$('view-metrics').hidden) drawCharts();
}

const COLORS = ['#58a6ff', '#3fb950', '#d29922', '#f85149', '#bc8cff', '#39c5cf', '#ff9bce', '#e3b341'];

function drawCharts() {
  const root = $('charts');
  for (const spec of CHARTS) {
    let fig = root.querySelector(`figure[data-metric="${spec.key}"]`);
    if (!fig) {
      fig = el('figure', 'chart');
      fig.dataset.metric = spec.key;
      fig.append(el('figcaption', null, spec.title), el('canvas'), el('div', 'legend'));
      root.append(fig);
    }
    const canvas = fig.querySelector('canvas');
    const legend = fig.querySelector('.legend');
    const data = series.get(spec.key) || new Map();
    const w = Math.max(200, canvas.clientWidth || 400), h = 160;
    canvas.width = w * devicePixelRatio;
    canvas.height = h * devicePixelRatio;
    const g = canvas.getContext('2d');
    g.scale(devicePixelRatio, devicePixelRatio);
    g.clearRect(0, 0, w, h);
    let max = 0, points = 0;
    for (const arr of data.values()) for (const v of arr) if (v !== null) max = Math.max(max, v);
    max = max > 0 ? niceMax(max) : 1;
    const left = 40, bottom = h - 16, top = 6, right = w - 6;
    g.strokeStyle = '#2b313a';
    g.fillStyle = '#8b939e';
    g.font = '10px system-ui, sans-serif';
    g.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = bottom - (bottom - top) * i / 4;
      g.beginPath(); g.moveTo(left, y); g.lineTo(right, y); g.stroke();
      g.fillText(fmtAxis(max * i / 4), 2, y + 3);
    }
    legend.replaceChildren();
    let i = 0;
    for (const [name, arr] of data) {
      const color = COLORS[i++ % COLORS.length];
      g.strokeStyle = color;
      g.lineWidth = 2;
      g.beginPath();
      let started = false;
      arr.forEach((v, k) => {
        if (v === null) { started = false; return; }
        const x = left + (right - left) * (k + HISTORY - arr.length) / (HISTORY - 1);
        const y = bottom - (bottom - top) * v / max;
        if (started) g.lineTo(x, y); else g.moveTo(x, y);
        started = true;
        points++;
      });
      g.stroke();
      const last = [...arr].reverse().find((v) => v !== null);
      const item = el('span', null, `${name}: ${fmt(last)} ${spec.unit}`);
      const swatch = el('i');
      swatch.style.background = color;
      item.prepend(swatch);
      legend.append(item);
    }
    if (!data.size) legend.append(el('span', null, 'no data yet'));
    fig.dataset.points = String(points);
  }
}
function niceMax(v) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (v <= m * p) return m * p;
  return 10 * p;
}
function fmtAxis(v) { return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2); }

// ---- zone / line editor -------------------------------------------------------------
// Shapes are kept in frame (roi crop) pixels as drawn; YAML and saves are in full-frame pixels.
const zoneState = {
  camera: '',
  image: null,
  shapes: [],
  current: [],
  offset: [0, 0],
  editable: false
};

function zoneMode() { return document.querySelector('input[name="zone-mode"]:checked').value; }

async function loadZoneFrame() {
  const cam = $('zone-camera').value;
  if (!cam) return;
  const changed = cam !== zoneState.camera;
  if (changed) {
    zoneState.shapes = [];
    zoneState.current = [];
  }
  zoneState.camera = cam;
  // The camera's configured zones and lines are where editing starts.
  try {
    const res = await api('/cameras/' + encodeURIComponent(cam) + '/scene');
    if (res.ok) {
      const scene = await res.json();
      const [ox, oy] = sceneOffset(scene);
      zoneState.offset = [ox, oy];
      zoneState.editable = scene.editable === true;
      $('zone-save').disabled = !zoneState.editable;
      $('zone-save-note').textContent =
          zoneState.editable ? '' : 'Save is off: ' + (scene.not_editable || 'not available');
      if (changed) {
        const local = (pts) => pts.map(([x, y]) => [Math.round(x - ox), Math.round(y - oy)]);
        for (const z of scene.zones || [])
          zoneState.shapes.push({kind: 'polygon', name: z.name, points: local(z.polygon)});
        for (const l of scene.lines || [])
          zoneState.shapes.push({kind: 'line', name: l.name, points: local(l.points)});
      }
    }
  } catch (e) { /* keeps the copy path */
  }
  const t = tiles.get(cam);
  if (t && t.raw && t.raw.width) {
    const c = document.createElement('canvas');
    c.width = t.raw.width; c.height = t.raw.height;
    c.getContext('2d').drawImage(t.raw, 0, 0);
    zoneState.image = c;
  } else {
    try {
      const res = await api('/cameras/' + encodeURIComponent(cam) + '/snapshot.jpg');
      zoneState.image = res.ok ? await createImageBitmap(await res.blob()) : null;
    } catch (e) { zoneState.image = null; }
  }
  drawZones();
}

function drawZones() {
  const c = $('zone-canvas');
  const img = zoneState.image;
  c.width = img ? img.width : 640;
  c.height = img ? img.height : 360;
  const g = c.getContext('2d');
  g.fillStyle = '#000';
  g.fillRect(0, 0, c.width, c.height);
  if (img) g.drawImage(img, 0, 0);
  const lw = Math.max(2, Math.round(c.width / 320));
  g.lineWidth = lw;
  g.font = `${10 + 2 * lw}px system-ui, sans-serif`;
  const all = [...zoneState.shapes, {kind: zoneMode(), name: '(new)', points: zoneState.current, open: true}];
  for (const s of all) {
    if (!s.points.length) continue;
    g.strokeStyle = s.kind === 'line' ? '#ffab40' : '#40c4ff';
    g.fillStyle = s.kind === 'line' ? 'rgba(255,171,64,.25)' : 'rgba(64,196,255,.25)';
    g.beginPath();
    s.points.forEach(([x, y], i) => (i ? g.lineTo(x, y) : g.moveTo(x, y)));
    if (s.kind === 'polygon' && !s.open) { g.closePath(); g.fill(); }
    g.stroke();
    if (s.kind === 'line' && s.points.length === 2) {
      const [[x1, y1], [x2, y2]] = s.points;
      const [nx, ny] = inNormal([x1, y1], [x2, y2]);
      const mx = (x1 + x2) / 2, my = (y1 + y2) / 2, len = 10 + 4 * lw;
      g.beginPath();
      g.moveTo(mx, my);
      g.lineTo(mx + nx * len, my + ny * len);
      g.stroke();
      g.fillStyle = g.strokeStyle;
      g.fillText('in', mx + nx * (len + 4), my + ny * (len + 4));
    }
    for (const [x, y] of s.points) g.fillRect(x - lw, y - lw, 2 * lw, 2 * lw);
    if (!s.open) { g.fillStyle = '#fff'; g.fillText(s.name, s.points[0][0] + 4, s.points[0][1] - 4); }
  }
  $('zone-yaml').value = zonesYaml();
}

function fullFrame(points) {
  const [ox, oy] = zoneState.offset;
  return points.map(([x, y]) => [x + ox, y + oy]);
}

// The camera's entry as it goes under `cameras:` in the config (its other keys unchanged).
function zonesYaml() {
  const cam = zoneState.camera || '<camera>';
  const pts = (p) => '[' + fullFrame(p).map(([x, y]) => `[${x}, ${y}]`).join(', ') + ']';
  const zones = zoneState.shapes.filter((s) => s.kind === 'polygon');
  const lines = zoneState.shapes.filter((s) => s.kind === 'line');
  let y = `# under cameras:, in the entry of ${cam}; points in full-frame pixels\n`;
  y += `- id: ${cam}\n`;
  y += '  zones:' + (zones.length ? '\n' : ' []\n');
  for (const z of zones) y += `    - name: ${z.name}\n      polygon: ${pts(z.points)}\n`;
  y += '  lines:' + (lines.length ? '\n' : ' []\n');
  for (const l of lines) y += `    - name: ${l.name}\n      points: ${pts(l.points)}\n`;
  return y;
}

async function saveZones() {
  const note = $('zone-save-note');
  const body = {
    zones: zoneState.shapes.filter((s) => s.kind === 'polygon')
               .map((s) => ({name: s.name, polygon: fullFrame(s.points)})),
    lines: zoneState.shapes.filter((s) => s.kind === 'line')
               .map((s) => ({name: s.name, points: fullFrame(s.points)})),
  };
  note.textContent = 'saving…';
  try {
    const res = await api(
        '/cameras/' + encodeURIComponent(zoneState.camera) + '/scene',
        {method: 'PUT', headers: {'Content-Type': 'application/json'}, body: JSON.stringify(body)});
    const answer = await res.json().catch(() => ({}));
    note.textContent = res.ok ? 'saved; the service reloads its configuration' :
                                'not saved: ' + (answer.error || 'HTTP ' + res.status);
    note.dataset.result = res.ok ? 'saved' : 'error';
  } catch (e) {
    note.textContent =
        'not saved: ' + (e instanceof Unauthorized ? 'token needed' : 'server unreachable');
    note.dataset.result = 'error';
  }
}

function finishShape() {
  const kind = zoneMode();
  const need = kind === 'line' ? 2 : 3;
  if (zoneState.current.length < need) return;
  const prefix = kind === 'line' ? 'line' : 'zone';
  let name = $('zone-name').value.trim().replace(/[^A-Za-z0-9_-]/g, '_');
  for (let n = zoneState.shapes.length + 1; !name || zoneState.shapes.some((s) => s.name === name);
       n++)
    name = prefix + n;
  $('zone-name').value = '';
  zoneState.shapes.push({kind, name, points: zoneState.current});
  zoneState.current = [];
  drawZones();
}

$('zone-canvas').addEventListener('click', (ev) => {
  const c = $('zone-canvas');
  const r = c.getBoundingClientRect();
  const x = Math.round((ev.clientX - r.left) * c.width / r.width);
  const y = Math.round((ev.clientY - r.top) * c.height / r.height);
  zoneState.current.push([x, y]);
  if (zoneMode() === 'line' && zoneState.current.length === 2) finishShape(); else drawZones();
});
$('zone-finish').addEventListener('click', finishShape);
$('zone-save').addEventListener('click', saveZones);
$('zone-remove').addEventListener('click', () => {
  zoneState.shapes.pop();
  drawZones();
});
$('zone-undo').addEventListener('click', () => { zoneState.current.pop(); drawZones(); });
$('zone-clear').addEventListener('click', () => { zoneState.shapes = []; zoneState.current = []; drawZones(); });
$('zone-camera').addEventListener('change', loadZoneFrame);
for (const r of document.querySelectorAll('input[name="zone-mode"]'))
  r.addEventListener('change', () => { zoneState.current = []; drawZones(); });
$('zone-copy').addEventListener('click', async () => {
  const text = $('zone-yaml').value;
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {
    // Plain http (no secure context) has no clipboard API.
    $('zone-yaml').select();
    document.execCommand('copy');
  }
  $('zone-copied').textContent = 'copied';
  setTimeout(() => { $('zone-copied').textContent = ''; }, 2000);
});

// ---- start ------------------------------------------------------------------------------
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
setInterval(tickLive, SNAPSHOT_MS);
setInterval(() => { if (!$('view-events').hidden) renderEvents(); }, 5000);  // "since" ages out
runEvents();
const startView = (location.hash || '#live').slice(1);
showView($('view-' + startView) ? startView : 'live');
