// End-to-end check of the playground in a real browser against a running edge.
//
//   node web/e2e/playground.mjs <BASE_URL> [SCREENSHOT.png]
//
// Loads the page, types a script that logs a unique marker and saves a PNG,
// runs it and waits for the marker, outcome ok and the image loaded from the
// server; then runs the "Infinite loop" example with a 1 s timeout and waits
// for outcome timeout. Exits 0 on success, 1 with what was expected and what
// was seen otherwise. Chromium: $MOAT_CHROMIUM or /usr/bin/chromium.
import { chromium } from 'playwright-core';
import { randomBytes } from 'node:crypto';

const TOTAL_MS = 90_000;
const [baseUrl, screenshot] = process.argv.slice(2);
if (!baseUrl || !/^https?:\/\//.test(baseUrl)) {
  console.error('usage: node web/e2e/playground.mjs <BASE_URL> [SCREENSHOT.png]');
  process.exit(2);
}

const marker = `moat-e2e-${randomBytes(6).toString('hex')}`;

// A script that logs the marker, saves an 8×8 PNG encoded by hand (zlib
// stored blocks) and returns a value. No example of the page is involved.
const script = `import { save } from 'moat:files';
const W = 8, H = 8;
const crcTable = new Uint32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc32 = (bytes) => {
  let c = 0xffffffff;
  for (const b of bytes) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const u32 = (n) => [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255];
const chunk = (type, data) => {
  const body = [...type].map((ch) => ch.charCodeAt(0)).concat([...data]);
  return [...u32(data.length), ...body, ...u32(crc32(body))];
};
const raw = [];
for (let y = 0; y < H; y++) {
  raw.push(0);
  for (let x = 0; x < W; x++) raw.push(x * 32, y * 32, 160);
}
let a = 1, b = 0;
for (const v of raw) { a = (a + v) % 65521; b = (b + a) % 65521; }
const zlib = [0x78, 0x01, 1, raw.length & 255, raw.length >> 8, ~raw.length & 255, (~raw.length >> 8) & 255, ...raw, ...u32(((b << 16) | a) >>> 0)];
const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a,
  ...chunk('IHDR', [...u32(W), ...u32(H), 8, 2, 0, 0, 0]), ...chunk('IDAT', zlib), ...chunk('IEND', [])]);
console.log('${marker}');
console.log("<img src=x onerror=document.title='pwned'>");
save('notes #1.txt', 'hello ${marker}');
const file = save('e2e.png', png);
export default { marker: '${marker}', size: file.size };
`;

let browser;
let page;
const problems = []; // uncaught page errors and CSP violations
const consoleLines = [];

class Failure extends Error {}

async function seen() {
  if (!page) return '(no page)';
  try {
    return await page.evaluate(() => {
      const text = (id, n = 400) => {
        const node = document.getElementById(id);
        if (!node) return `#${id} missing`;
        const t = node.textContent.replace(/\s+/g, ' ').trim();
        return t.length > n ? `…${t.slice(-n)}` : t || '(empty)';
      };
      const outcome = document.getElementById('outcome');
      return [
        `status: ${text('status')}`,
        `outcome: data-outcome=${outcome?.dataset.outcome ?? '(none)'} ${text('outcome')}`,
        `output: ${text('output')}`,
        `files: ${text('files')} (${document.querySelectorAll('#files img').length} img)`,
      ].join('\n  ');
    });
  } catch (e) {
    return `(could not read the page: ${e.message})`;
  }
}

/** Waits for `predicate` in the page; fails with what was expected and seen. */
async function waitFor(expected, predicate, arg, timeout) {
  try {
    await page.waitForFunction(predicate, arg, { timeout, polling: 100 });
  } catch (e) {
    throw new Failure(`expected ${expected} within ${timeout} ms; saw:\n  ${await seen()}\n  (${e.message.split('\n')[0]})`);
  }
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
  } catch (e) {
    if (e instanceof Failure) throw new Failure(`${name}: ${e.message}`);
    throw new Failure(`${name}: ${e.message.split('\n')[0]}\n  saw:\n  ${await seen()}`);
  }
  return Date.now() - t0;
}

async function main() {
  browser = await chromium.launch({
    executablePath: process.env.MOAT_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    timeout: 30_000,
  });
  const context = await browser.newContext({ viewport: { width: 1360, height: 860 } });
  page = await context.newPage();
  page.setDefaultTimeout(10_000);
  page.on('pageerror', (e) => problems.push(`uncaught error in the page: ${e.message}`));
  page.on('console', (m) => {
    const text = m.text();
    consoleLines.push(`${m.type()}: ${text}`);
    if (/Content Security Policy/i.test(text)) problems.push(`CSP violation: ${text}`);
  });

  await step('1. load the page', async () => {
    const res = await page.goto(baseUrl, { waitUntil: 'load', timeout: 15_000 });
    if (!res || !res.ok()) throw new Failure(`expected ${baseUrl} to answer 2xx; got ${res ? res.status() : 'no response'}`);
    const title = await page.title();
    if (!/moat playground/i.test(title)) throw new Failure(`expected title "moat playground"; got "${title}"`);
    const h1 = (await page.textContent('h1', { timeout: 5_000 }))?.trim();
    if (!/moat playground/i.test(h1 ?? '')) throw new Failure(`expected header "moat playground"; got "${h1}"`);
    await page.waitForSelector('#editor .cm-editor .cm-content', { state: 'visible', timeout: 10_000 })
      .catch(() => { throw new Failure('expected the CodeMirror editor (#editor .cm-content) to be visible'); });
    for (const id of ['examples', 'run', 'status', 'output', 'files']) {
      if (!(await page.$(`#${id}`))) throw new Failure(`expected #${id} on the page`);
    }
  });

  await step('2. type a script', async () => {
    await page.click('#editor .cm-content');
    await page.keyboard.press('ControlOrMeta+A');
    await page.keyboard.press('Delete');
    await waitFor('an empty editor after select-all + Delete',
      () => document.querySelector('#editor .cm-content').textContent.trim() === '', null, 5_000);
    await page.keyboard.insertText(script);
    await waitFor(`the editor to hold the typed script (with ${marker})`,
      (m) => {
        const t = document.querySelector('#editor .cm-content').textContent;
        return t.includes(m) && t.includes("save('e2e.png', png)") && !t.includes('hello from moat');
      }, marker, 5_000);
  });

  let okMs = 0;
  let image = { w: 0, h: 0 };
  await step('3. run it', async () => {
    const t0 = Date.now();
    await page.click('#run');
    await waitFor(`#output to contain ${marker}`,
      (m) => document.getElementById('output').textContent.includes(m), marker, 30_000);
    await waitFor('#outcome[data-outcome="ok"]',
      () => document.querySelector('#outcome[data-outcome="ok"]') !== null
        && !document.getElementById('outcome').hidden, null, 30_000);
    okMs = Date.now() - t0;
    await waitFor('an <img> in #files loaded from the server (naturalWidth > 0)',
      () => {
        if (document.querySelector('#files li.broken')) throw new Error('the page could not load the image from the server');
        return [...document.querySelectorAll('#files img')].some((img) => img.complete && img.naturalWidth > 0);
      },
      null, 15_000);
    image = await page.$eval('#files img', (img) => ({ w: img.naturalWidth, h: img.naturalHeight, alt: img.alt, src: img.getAttribute('src') }));
    if (image.alt !== 'e2e.png') throw new Failure(`expected the image's alt to be "e2e.png"; got "${image.alt}"`);
    if (!/[?&]token=/.test(image.src)) throw new Failure(`expected the image URL to carry the run token; got ${image.src}`);
    // Script output is text, never markup.
    const html = await page.evaluate(() => ({
      imgs: document.querySelectorAll('#output img').length,
      text: document.getElementById('output').textContent,
      title: document.title,
    }));
    if (html.imgs || !html.text.includes("<img src=x onerror=") || html.title === 'pwned') {
      throw new Failure(`expected the logged <img> tag as plain text in #output; saw ${html.imgs} img element(s), title "${html.title}"`);
    }
    // A file whose name needs encoding downloads through its link.
    await waitFor('a download link for "notes #1.txt" in #files',
      () => [...document.querySelectorAll('#files a')].some((a) => a.textContent.includes('notes #1.txt')), null, 15_000);
    const href = await page.evaluate(() => [...document.querySelectorAll('#files a')]
      .find((a) => a.textContent.includes('notes #1.txt')).getAttribute('href'));
    const download = await page.request.get(new URL(href, baseUrl).toString());
    const body = await download.text();
    if (download.status() !== 200 || body !== `hello ${marker}`) {
      throw new Failure(`expected ${href} to answer 200 with the saved text; got ${download.status()} ${JSON.stringify(body.slice(0, 200))}`);
    }
    const value = await page.textContent('#value');
    if (!value?.includes(marker)) throw new Failure(`expected #value to show the returned value with ${marker}; got ${JSON.stringify(value)}`);
    await waitFor('#run to be enabled again after the run', () => !document.getElementById('run').disabled, null, 10_000);
  });

  let timeoutText = '';
  await step('4. run the "Infinite loop" example with a 1000 ms timeout', async () => {
    await page.selectOption('#examples', { label: 'Infinite loop' });
    await waitFor('the editor to hold the infinite loop example',
      () => /for \(;;\)|while\s*\(true\)/.test(document.querySelector('#editor .cm-content').textContent), null, 5_000);
    await page.fill('#timeout', '1000');
    await page.click('#run');
    await waitFor('#outcome[data-outcome="timeout"]',
      () => document.querySelector('#outcome[data-outcome="timeout"]') !== null
        && !document.getElementById('outcome').hidden, null, 30_000);
    timeoutText = (await page.innerText('#outcome')).split('\n')[0].replace(/\s+/g, ' ').trim();
    await waitFor('#run to be enabled again after the run', () => !document.getElementById('run').disabled, null, 15_000);
  });

  await step('5. screenshot', async () => {
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true, timeout: 15_000 });
  });

  if (problems.length) throw new Failure(`the page reported problems:\n  ${problems.join('\n  ')}`);
  console.log(`e2e ok: ${marker} logged, outcome ok in ${okMs} ms, image ${image.w}x${image.h} loaded, `
    + `infinite loop → ${timeoutText}${screenshot ? `, screenshot ${screenshot}` : ''}`);
}

let code = 0;
const deadline = setTimeout(async () => {
  console.error(`e2e FAILED: the whole check took longer than ${TOTAL_MS / 1000} s; saw:\n  ${await seen()}`);
  await browser?.close().catch(() => {});
  process.exit(1);
}, TOTAL_MS);

try {
  await main();
} catch (e) {
  code = 1;
  console.error(`e2e FAILED: ${e instanceof Failure ? e.message : e.stack ?? e}`);
  if (problems.length && !(e instanceof Failure && e.message.includes('reported problems'))) {
    console.error(`  page problems:\n  ${problems.join('\n  ')}`);
  }
  if (consoleLines.length) console.error(`  browser console (last 10):\n  ${consoleLines.slice(-10).join('\n  ')}`);
} finally {
  clearTimeout(deadline);
  await browser?.close().catch(() => {});
}
process.exit(code);
