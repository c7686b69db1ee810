// End-to-end dashboard test in real Chromium (Debian's /usr/bin/chromium through
// playwright-core; no browser download). Starts ev_fake_service (two cameras, synthetic frames
// and events, token auth) and checks what a user sees: the token prompt, both camera tiles with
// loaded images and stats, live events, metrics text, and a rejected token. Writes a screenshot.
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

const watchdog = setTimeout(() => { console.error('FAIL: timed out'); process.exit(1); }, 120000);

let failures = 0;
function check(cond, what) {
  console.log((cond ? 'ok   ' : 'FAIL ') + what);
  if (!cond) failures++;
}

function startFake() {
  return new Promise((resolve, reject) => {
    const child = spawn(fakeBin, ['--port', '0', '--token', TOKEN, '--web', webDir],
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
    await page.waitForFunction(() => document.querySelectorAll('.tile').length === 2, null, {timeout: 10000});
    check(true, 'two camera tiles');
    // car-park gets its first frame a second after start: both images must end up loaded.
    await page.waitForFunction(() => [...document.querySelectorAll('.tile img')]
        .filter((i) => !i.hidden && i.complete && i.naturalWidth > 0).length === 2, null, {timeout: 15000});
    const sizes = await page.$$eval('.tile img', (imgs) => imgs.map((i) => [i.naturalWidth, i.naturalHeight]));
    check(sizes.every(([w, h]) => w === 320 && h === 180), 'both live views show 320x180 frames ' + JSON.stringify(sizes));
    const firstSrc = await page.$eval('.tile[data-camera="front-door"] img', (i) => i.src);
    await page.waitForFunction((s) => document.querySelector('.tile[data-camera="front-door"] img').src !== s,
                               firstSrc, {timeout: 5000});
    check(true, 'live view refreshes');

    const dropped = await page.textContent('.tile[data-camera="front-door"] .stat-dropped');
    const latency = await page.textContent('.tile[data-camera="car-park"] .stat-latency');
    const fps = await page.textContent('.tile[data-camera="front-door"] .stat-fps');
    check(dropped === '3', 'dropped frames per camera (' + dropped + ')');
    check(latency === '55.1', 'latency per camera (' + latency + ')');
    check(/^12\.5 \/ 1\d\.\d$/.test(fps), 'fps in/out per camera (' + fps + ')');

    await page.waitForFunction(() => document.querySelectorAll('#events li').length >= 3, null, {timeout: 10000});
    const events = await page.$$eval('#events li', (lis) => lis.map((l) => l.textContent));
    check(events.some((t) => /object_(appeared|left)/.test(t) && /front-door|car-park/.test(t)),
          'live events listed (' + events.length + '): ' + events[0]);
    check(await page.textContent('#events-state') === 'live', 'event stream is live');

    await page.waitForFunction(() => document.getElementById('metrics').textContent.includes('edgevision_camera_fps'),
                               null, {timeout: 10000});
    const metrics = await page.textContent('#metrics');
    check(metrics.includes('process_resident_memory_bytes'), 'metrics text shows RSS');
    check(await page.textContent('#health') === 'ok', 'health badge');

    const shot = path.join(workDir, 'dashboard.png');
    await page.screenshot({path: shot, fullPage: true});
    console.log('screenshot: ' + shot);

    // The token survives a reload (sessionStorage), and a wrong one is refused.
    await page.reload();
    await page.waitForFunction(() => document.querySelectorAll('.tile').length === 2, null, {timeout: 10000});
    check(await page.isHidden('#token-form'), 'token kept across reload');
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
