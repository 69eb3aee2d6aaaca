// A Puppeteer script, unchanged from how Node runs it: moat serves
// 'puppeteer' (and 'puppeteer-core', 'moat:browser') with Chromium inside
// the run's own sandbox. Every request the page makes goes through
// moat-egress under the same policy as fetch().
//
//   moat run examples/screenshot.js --out out     (out/page.png)
import puppeteer from 'puppeteer';

const url = 'data:text/html,' + encodeURIComponent(`
  <title>Hello from moat</title>
  <style>body { font: 32px sans-serif; background: #fdf6e3; } h1 { color: #268bd2; }</style>
  <h1>Hello from a sandboxed Chromium</h1>
  <p>Rendered at <span id="at"></span></p>
  <script>document.getElementById('at').textContent = new Date().toISOString();</script>`);

const browser = await puppeteer.launch();
const page = await browser.newPage();
await page.setViewport({ width: 800, height: 400 });
await page.goto(url, { waitUntil: 'load' });
const title = await page.title();
const heading = await page.$eval('h1', (el) => el.textContent);
await page.screenshot({ path: 'page.png' });
await browser.close();

export default { title, heading };
