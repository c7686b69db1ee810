// End-to-end dashboard test in real Chromium (Debian's /usr/bin/chromium through
// playwright-core; no browser download). Starts ev_fake_service (four cameras, synthetic frames,
// tracks and events, token auth) and checks what a user sees: the token prompt; the pushed live
// view with the tracks, the configured zones and lines (with the "in" arrow) drawn and the
// line/zone counts beside it; events with the server's anonymized thumbnails (also for events
// from before the page was opened), filters and details; camera health (a failing camera, one
// far below its fps cap, reconnects); metrics charts; the zone/line editor starting from the
// configured shapes, its YAML, saving into the config file (and a refused invalid save); no
// sideways scrolling at 400 px; a rejected token. Screenshots of each view go to
// <build>/test-artifacts/.
// Usage: node dashboard_test.cjs FAKE_SERVICE_BINARY WEB_DIR WORK_DIR
'use strict';
const {spawn} = require('child_process');
const fs = require('fs');
const path = require('path');
const {createRequire} = require('module');

const [fakeBin, webDir, workDir] = process.argv.slice(2).map((p) => p && path.resolve(p));
if (!fakeBin || !webDir || !workDir) {
  console.error('usage: node dashboard_test.cjs FAKE_SERVICE_BINARY WEB_DIR WORK_DIR');
  process.exit(2);
}
// playwright-core is installed in the work dir (build tree), not next to this file.
const {chromium} = createRequire(path.join(workDir, 'package.json'))('playwright-core');
const TOKEN = 'dashboard-test-token-1234';
// Screenshots of every view go next to the other test artefacts of the build tree.
const artifacts = path.join(workDir, '..', 'test-artifacts');
fs.mkdirSync(artifacts, {recursive: true});

const watchdog = setTimeout(() => { console.error('FAIL: timed out'); process.exit(1); }, 170000);

let failures = 0;
function check(cond, what) {
  console.log((cond ? 'ok   ' : 'FAIL ') + what);
  if (!cond) failures++;
}

// The config file the zone editor saves into (front-door's configured zone and line).
const configFile = path.join(workDir, 'dashboard-config.yaml');
fs.writeFileSync(path.join(workDir, 'door.mp4'), 'x');
fs.writeFileSync(configFile, `cameras:
  - id: front-door
    source: ${path.join(workDir, 'door.mp4')}
    zones:
      - name: bay
        polygon: [[180, 20], [300, 20], [300, 160], [180, 160]]
        loitering_s: 30
    lines:
      - name: door
        points: [[120, 10], [120, 170]]
`);

function startFake() {
  return new Promise((resolve, reject) => {
    const child = spawn(fakeBin, ['--port', '0', '--token', TOKEN, '--web', webDir, '--config', configFile],
                        {stdio: ['ignore', 'pipe', 'inherit']});
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/LISTENING (\d+)/);
      if (m) resolve({child, port: Number(m[1])});
    });
    child.on('exit', (code) => reject(new Error('ev_fake_service exited with ' + code)));
    setTimeout(() => reject(new Error('ev_fake_service did not start')), 10000);
  });
}

async function main() {
  const {child, port} = await startFake();
  const base = `http://127.0.0.1:${port}/`;
  const userDataDir = fs.mkdtempSync(path.join(workDir, 'chromium-profile-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: {width: 1280, height: 800},
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
           '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const pageErrors = [];
  const offOrigin = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('request', (r) => { if (!r.url().startsWith(base) && !r.url().startsWith('blob:')) offOrigin.push(r.url()); });

    await page.goto(base);
    await page.waitForSelector('#token-form:not([hidden])', {timeout: 10000});
    check(true, 'asks for the token');
    check(await page.locator('.tile').count() === 0, 'shows no camera before the token is given');

    await page.fill('#token-input', TOKEN);
    await page.click('#token-form button[type=submit]');
    await page.waitForFunction(() => document.querySelectorAll('.tile').length === 4, null, {timeout: 10000});
    check(true, 'four camera tiles');

    // ---- live view: pushed frames with the tracks drawn on them
    await page.waitForFunction(() => [...document.querySelectorAll('.tile')]
        .filter((t) => t.dataset.camera !== 'gate')
        .every((t) => !t.querySelector('canvas').hidden && Number(t.dataset.frames) > 0), null, {timeout: 15000});
    const sizes = await page.$$eval('.tile:not([data-camera="gate"]) canvas', (cs) => cs.map((c) => [c.width, c.height]));
    check(sizes.every(([w, h]) => w === 320 && h === 180), 'live views show 320x180 frames ' + JSON.stringify(sizes));
    check(await page.$eval('.tile[data-camera="front-door"]', (t) => t.dataset.mode) === 'push',
          'front-door live view is pushed (multipart stream), not polled');
    const f0 = await page.$eval('.tile[data-camera="front-door"]', (t) => Number(t.dataset.frames));
    await page.waitForTimeout(3000);
    const f1 = await page.$eval('.tile[data-camera="front-door"]', (t) => Number(t.dataset.frames));
    check(f1 - f0 >= 8, `live view at the camera's rate: ${f1 - f0} frames in 3 s (1 Hz polling would give 3)`);
    // The overlay: box edge pixels in the track colour (#00e676), at the box the server sent.
    const overlay = await page.$eval('.tile[data-camera="front-door"]', (t) => {
      const tracks = JSON.parse(t.dataset.tracks || '[]');
      const c = t.querySelector('canvas');
      if (!tracks.length) return {tracks};
      const [x, y, w, h] = tracks[0].box;
      const px = c.getContext('2d').getImageData(Math.round(x + w / 2), Math.round(y + h), 1, 1).data;
      return {tracks, px: [...px]};
    });
    check(overlay.tracks.length === 1 && overlay.tracks[0].class === 'person' && overlay.tracks[0].id === 7,
          'tracks of the frame arrive with it ' + JSON.stringify(overlay.tracks));
    check(overlay.px && overlay.px[0] < 60 && overlay.px[1] > 180 && overlay.px[2] > 80 && overlay.px[2] < 160,
          'track box drawn on the frame (pixel ' + JSON.stringify(overlay.px) + ')');
    // Zones and lines over the live image: the line in its colour (#ffab40) where it runs, the
    // zone's edge in #40c4ff, both away from the moving box and the labels.
    await page.waitForFunction(() => {
      const t = document.querySelector('.tile[data-camera="front-door"]');
      return t.dataset.scene && JSON.parse(t.dataset.scene).lines.length === 1;
    }, null, {timeout: 10000});
    const sceneDrawn = await page.$eval('.tile[data-camera="front-door"]', async (t) => {
      const before = Number(t.dataset.frames);
      // The next frame is drawn with the scene known.
      for (let i = 0; i < 50 && Number(t.dataset.frames) === before; i++) await new Promise((r) => setTimeout(r, 50));
      const g = t.querySelector('canvas').getContext('2d');
      const px = (x, y) => [...g.getImageData(x, y, 1, 1).data].slice(0, 3);
      // The "in" arrow of the vertical door line points left (negative x): sample on it.
      return {scene: JSON.parse(t.dataset.scene), line: px(120, 150), zone: px(300, 140), arrow: px(105, 90)};
    });
    const near = (got, want, tol = 40) => got.every((v, i) => Math.abs(v - want[i]) <= tol);
    check(sceneDrawn.scene.zones[0].name === 'bay' && sceneDrawn.scene.lines[0].name === 'door',
          'live view knows the camera\'s zone and line ' + JSON.stringify(sceneDrawn.scene));
    check(near(sceneDrawn.line, [255, 171, 64]), 'line drawn on the live image (pixel ' + JSON.stringify(sceneDrawn.line) + ')');
    check(near(sceneDrawn.zone, [64, 196, 255]), 'zone edge drawn on the live image (pixel ' + JSON.stringify(sceneDrawn.zone) + ')');
    check(near(sceneDrawn.arrow, [255, 171, 64]), 'direction arrow on the "in" side (pixel ' + JSON.stringify(sceneDrawn.arrow) + ')');
    const countsText = async () => page.$$eval('.tile[data-camera="front-door"] .counts li', (ls) => ls.map((l) => l.textContent));
    const c0 = await countsText();
    const inOf = (texts) => Number((/door: in (\d+)/.exec(texts.join('|')) || [])[1]);
    check(c0.length === 2 && /^door: in \d+ · out \d+$/.test(c0[0]) && /^bay: \d+ inside$/.test(c0[1]),
          'counts beside the live view: ' + JSON.stringify(c0));
    await page.waitForFunction((n) => {
      const m = /door: in (\d+)/.exec(document.querySelector('.tile[data-camera="front-door"] .counts').textContent);
      return m && Number(m[1]) > n;
    }, inOf(c0), {timeout: 10000}).catch(() => {});
    const c1 = await countsText();
    check(inOf(c1) > inOf(c0), `line counts update (in ${inOf(c0)} -> ${inOf(c1)})`);
    check(await page.$eval('.tile[data-camera="car-park"] .counts', (u) => u.hidden), 'no counts for a camera without zones/lines');
    check(await page.textContent('.tile[data-camera="gate"] .stat-reconnects') === '12', 'reconnects on the tile');
    const fdState = await page.textContent('.tile[data-camera="front-door"] .state');
    const yardState = await page.textContent('.tile[data-camera="yard"] .state');
    const gateState = await page.textContent('.tile[data-camera="gate"] .state');
    check(fdState === 'running', 'front-door: running (' + fdState + ')');
    check(/far below cap: 1\.0 of 10 fps/.test(yardState), 'yard shown far below its cap (' + yardState + ')');
    check(/^failing: cannot open rtsp/.test(gateState), 'gate shown failing with the reason (' + gateState + ')');
    check(await page.$eval('.tile[data-camera="gate"]', (t) => t.classList.contains('bad')), 'failing tile in red');
    const dropped = await page.textContent('.tile[data-camera="front-door"] .stat-dropped');
    const latency = await page.textContent('.tile[data-camera="car-park"] .stat-latency');
    check(dropped === '3', 'dropped frames per camera (' + dropped + ')');
    check(latency === '55.1', 'latency per camera (' + latency + ')');
    await page.screenshot({path: path.join(artifacts, 'dashboard-live.png'), fullPage: true});

    // ---- events: list with anonymized thumbnails, filters, details
    await page.click('#tabs button[data-view="events"]');
    await page.waitForFunction(() => document.querySelectorAll('#events li img.thumb').length >= 3, null, {timeout: 15000});
    check(await page.textContent('#events-state') === 'live', 'event stream is live');
    const thumbs = await page.$$eval('#events li img.thumb', (is) => is.map((i) => [i.naturalWidth, i.naturalHeight, i.src.slice(0, 5)]));
    check(thumbs.length >= 3 && thumbs.every(([w, h, src]) => w > 0 && w <= 160 && h > 0 && h <= 120 &&
                                                         (w === 160 || h === 120) && src === 'blob:'),
          'events have the server\'s thumbnails (<= 160x120) ' + JSON.stringify(thumbs.slice(0, 3)));
    await page.selectOption('#f-camera', 'car-park');
    const cams = await page.$$eval('#events li', (lis) => lis.map((l) => l.dataset.camera));
    check(cams.length > 0 && cams.every((c) => c === 'car-park'), 'camera filter (' + cams.length + ' car-park events)');
    await page.selectOption('#f-camera', '');
    await page.selectOption('#f-type', 'object_left');
    const types = await page.$$eval('#events li', (lis) => lis.map((l) => l.dataset.type));
    check(types.length > 0 && types.every((t) => t === 'object_left'), 'type filter');
    await page.selectOption('#f-type', '');
    await page.screenshot({path: path.join(artifacts, 'dashboard-events.png'), fullPage: false});
    await page.click('#events li:first-child');
    await page.waitForSelector('#event-detail[open]', {timeout: 5000});
    const detail = JSON.parse(await page.textContent('#detail-json'));
    check(typeof detail.type === 'string' && typeof detail.camera === 'string', 'event details show the event');
    await page.waitForFunction(() => { const i = document.getElementById('detail-frame'); return !i.hidden && i.naturalWidth > 0; },
                               null, {timeout: 5000}).catch(() => {});
    check(await page.$eval('#detail-frame', (i) => !i.hidden && i.naturalWidth === 320 && i.src.startsWith('blob:')),
          'event details show its snapshot from the server');
    await page.screenshot({path: path.join(artifacts, 'dashboard-event-detail.png')});
    await page.click('#event-detail .close');

    // ---- camera health
    await page.click('#tabs button[data-view="health"]');
    const rows = await page.evaluate(() => [...document.querySelectorAll('#health-table tbody tr')].map((tr) => ({
      camera: tr.dataset.camera, level: tr.dataset.level, status: tr.querySelector('.status').textContent,
      fps: tr.querySelector('.fps').textContent,
      color: getComputedStyle(tr.querySelector('.status span')).backgroundColor})));
    const row = (id) => rows.find((r) => r.camera === id) || {};
    check(row('gate').level === 'bad' && /failing: cannot open/.test(row('gate').status) &&
          row('gate').color === 'rgb(248, 81, 73)', 'health: failing camera in red with its reason ' + JSON.stringify(row('gate')));
    check(row('yard').level === 'warn' && row('yard').color === 'rgb(210, 153, 34)' && /1\.0 \/ 1\.0 \/ 10/.test(row('yard').fps),
          'health: far-below-cap camera in amber, fps in/out/cap ' + JSON.stringify(row('yard')));
    check(row('front-door').level === 'ok' && / \/ 15$/.test(row('front-door').fps), 'health: running camera ok ' + JSON.stringify(row('front-door')));
    const reconnects = await page.$$eval('#health-table tbody tr', (trs) => Object.fromEntries(
        trs.map((tr) => [tr.dataset.camera, tr.querySelector('.reconnects').textContent])));
    check(reconnects.gate === '12' && reconnects.yard === '3' && reconnects['front-door'] === '0',
          'health: reconnects per camera ' + JSON.stringify(reconnects));
    const skipped = await page.$$eval('#health-table tbody tr', (trs) => Object.fromEntries(
        trs.map((tr) => [tr.dataset.camera, tr.querySelector('.skipped').textContent])));
    check(skipped.yard === '40' && skipped['front-door'] === '0',
          'health: detector skipped (behind) per camera ' + JSON.stringify(skipped));
    await page.screenshot({path: path.join(artifacts, 'dashboard-health.png'), fullPage: true});

    // ---- metrics charts
    await page.click('#tabs button[data-view="metrics"]');
    await page.waitForFunction(() => [...document.querySelectorAll('figure.chart')]
        .filter((f) => Number(f.dataset.points) >= 3).length >= 6, null, {timeout: 20000});
    const charts = await page.$$eval('figure.chart', (fs) => fs.map((f) => ({
      metric: f.dataset.metric, points: Number(f.dataset.points), legend: f.querySelector('.legend').textContent})));
    const chart = (k) => charts.find((c) => c.metric === k) || {legend: ''};
    check(charts.length === 6 && charts.every((c) => c.points >= 3), 'six charts with data ' + JSON.stringify(charts.map((c) => [c.metric, c.points])));
    check(/front-door: 1\d\.\d fps/.test(chart('fps').legend), 'fps chart per camera: ' + chart('fps').legend);
    check(/front-door p50: \d+\.\d ms/.test(chart('latency').legend) && /p95/.test(chart('latency').legend), 'latency percentiles: ' + chart('latency').legend);
    check(/front-door: \d+\.\d ms/.test(chart('inference').legend), 'inference time: ' + chart('inference').legend);
    check(/rss: \d+\.\d MiB/.test(chart('rss').legend), 'RSS chart: ' + chart('rss').legend);
    check(/edgevision: \d+\.\d %/.test(chart('cpu').legend), 'CPU chart: ' + chart('cpu').legend);
    check(/mqtt: \d+\.\d events/.test(chart('spool').legend), 'spool chart: ' + chart('spool').legend);
    check(!(await page.content()).includes('# TYPE'), 'no Prometheus text on the page');
    await page.screenshot({path: path.join(artifacts, 'dashboard-metrics.png'), fullPage: true});

    // ---- zone / line editor: starts from the configured shapes, copies YAML, saves
    await page.click('#tabs button[data-view="zones"]');
    await page.selectOption('#zone-camera', 'front-door');
    await page.waitForFunction(() => document.getElementById('zone-canvas').width === 320 &&
        /name: bay/.test(document.getElementById('zone-yaml').value), null, {timeout: 5000});
    check(/name: door\n\s+points: \[\[120, 10\], \[120, 170\]\]/.test(await page.inputValue('#zone-yaml')),
          'editor starts from the configured zone and line');
    check(await page.isEnabled('#zone-save'), 'save is offered (config writable, token set)');
    const box = await page.locator('#zone-canvas').boundingBox();
    const at = async (x, y) => page.mouse.click(box.x + x * box.width / 320, box.y + y * box.height / 180);
    await page.fill('#zone-name', 'entry');
    await at(20, 20); await at(100, 20); await at(100, 120); await at(20, 120);
    await page.click('#zone-finish');
    await page.check('input[name="zone-mode"][value="line"]');
    await page.fill('#zone-name', 'exit');
    await at(10, 170); await at(300, 170);
    const yaml = await page.inputValue('#zone-yaml');
    const nearPts = (got, want) => got.length === want.length &&
        got.every(([x, y], i) => Math.abs(x - want[i][0]) <= 2 && Math.abs(y - want[i][1]) <= 2);
    const poly = /- name: entry\n\s+polygon: (\[\[.*\]\])\n/.exec(yaml);
    const line = /- name: exit\n\s+points: (\[\[.*\]\])\n/.exec(yaml);
    check(/^- id: front-door$/m.test(yaml) && poly && nearPts(JSON.parse(poly[1]), [[20, 20], [100, 20], [100, 120], [20, 120]]),
          'zone polygon in frame pixels in the YAML:\n' + yaml);
    check(line && nearPts(JSON.parse(line[1]), [[10, 170], [300, 170]]), 'line in the YAML');
    await page.screenshot({path: path.join(artifacts, 'dashboard-zones.png'), fullPage: true});
    await page.click('#zone-save');
    await page.waitForSelector('#zone-save-note[data-result]', {timeout: 5000});
    check(await page.getAttribute('#zone-save-note', 'data-result') === 'saved',
          'save accepted: ' + await page.textContent('#zone-save-note'));
    const saved = fs.readFileSync(configFile, 'utf8');
    check(/name: entry/.test(saved) && /name: exit/.test(saved) && /name: bay/.test(saved) && /loitering_s: 30/.test(saved),
          'config file holds the new shapes and keeps the zone\'s other keys:\n' + saved);
    await page.click('#tabs button[data-view="live"]');
    await page.waitForFunction(() => {
      const s = document.querySelector('.tile[data-camera="front-door"]').dataset.scene;
      return s && JSON.parse(s).zones.some((z) => z.name === 'entry');
    }, null, {timeout: 10000}).catch(() => {});
    const reloaded = JSON.parse(await page.$eval('.tile[data-camera="front-door"]', (t) => t.dataset.scene));
    check(reloaded.zones.map((z) => z.name).join() === 'bay,entry' && reloaded.lines.map((l) => l.name).join() === 'door,exit',
          'live view shows the saved shapes after the reload ' + JSON.stringify(reloaded));
    await page.waitForTimeout(600);
    await page.screenshot({path: path.join(artifacts, 'dashboard-live-zones.png'), fullPage: true});
    // An invalid shape (three points on one line: no area) is refused by the config parser.
    await page.click('#tabs button[data-view="zones"]');
    await page.check('input[name="zone-mode"][value="polygon"]');
    await at(30, 30); await at(60, 30); await at(90, 30);
    await page.click('#zone-finish');
    await page.evaluate(() => document.getElementById('zone-save-note').removeAttribute('data-result'));
    await page.click('#zone-save');
    await page.waitForSelector('#zone-save-note[data-result]', {timeout: 5000});
    const refused = await page.textContent('#zone-save-note');
    check(await page.getAttribute('#zone-save-note', 'data-result') === 'error' && /non-zero area/.test(refused),
          'invalid zone refused with the parser\'s reason: ' + refused);
    check(fs.readFileSync(configFile, 'utf8') === saved, 'config file unchanged after the refused save');

    // ---- phone width: no sideways scrolling on any view
    await page.setViewportSize({width: 400, height: 800});
    for (const v of ['live', 'events', 'health', 'metrics', 'zones']) {
      await page.click(`#tabs button[data-view="${v}"]`);
      await page.waitForTimeout(300);
      const [sw, iw] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
      check(sw <= iw, `${v} at 400 px: no horizontal scroll (scrollWidth ${sw}, width ${iw})`);
    }
    await page.click('#tabs button[data-view="live"]');
    await page.screenshot({path: path.join(artifacts, 'dashboard-phone.png'), fullPage: true});
    await page.click('#tabs button[data-view="health"]');
    await page.screenshot({path: path.join(artifacts, 'dashboard-phone-health.png'), fullPage: true});
    await page.setViewportSize({width: 1280, height: 800});
    check(await page.textContent('#health') === 'ok', 'health badge');
    console.log('screenshots: ' + artifacts);

    // The token survives a reload (sessionStorage), and a wrong one is refused.
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll('.tile').length === 4, null, {timeout: 10000});
    check(await page.isHidden('#token-form'), 'token kept across reload');
    // Events from before this page load come with the server's thumbnails.
    await page.click('#tabs button[data-view="events"]');
    await page.waitForFunction(() => document.querySelectorAll('#events li img.thumb').length >= 10, null, {timeout: 10000}).catch(() => {});
    const early = await page.$$eval('#events li img.thumb', (is) => is.length);
    check(early >= 10, `events received as backlog after a reload have thumbnails (${early})`);
    await page.evaluate(() => sessionStorage.setItem('edgevision.token', 'wrong'));
    await page.reload();
    await page.waitForSelector('#token-form:not([hidden])', {timeout: 10000});
    check((await page.textContent('#token-error')).includes('not accepted'), 'wrong token is rejected');

    check(pageErrors.length === 0, 'no JavaScript errors ' + JSON.stringify(pageErrors));
    check(offOrigin.length === 0, 'no request leaves the origin ' + JSON.stringify(offOrigin));
  } finally {
    await context.close();
    child.kill('SIGTERM');
    fs.rmSync(userDataDir, {recursive: true, force: true});
  }
}

main().then(() => {
  clearTimeout(watchdog);
  console.log(failures ? `${failures} check(s) failed` : 'all dashboard checks passed');
  process.exit(failures ? 1 : 0);
}, (e) => {
  console.error('FAIL: ' + (e && e.stack || e));
  process.exit(1);
});
