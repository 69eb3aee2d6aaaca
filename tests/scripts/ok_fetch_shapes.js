// outcome: ok
// fetch's companions behave as the WHATWG standard says, with no network:
// Headers (case-insensitive, combined, sorted, validated), Request and
// Response (bodies read once, status checks, static helpers), and
// AbortController / AbortSignal (reasons, listeners, timeout, any).
// value: {"headers":[["a","1, 2"],["content-type","text/plain"],["set-cookie","x=1"],["set-cookie","y=2"]],"badName":"TypeError","badValue":"TypeError","request":["POST","https://example.test/a?b=1","follow","application/x-www-form-urlencoded;charset=UTF-8"],"getBody":"TypeError","credentials":"TypeError","response":[201,true,"{\"ok\":true}","TypeError"],"json":["application/json",{"a":[1]}],"status":"RangeError","redirect":[302,"https://example.test/next"],"abort":[true,"AbortError",1,"stop"],"timeout":"TimeoutError","any":true,"bytes":[104,105]}
const h = new Headers({ 'Content-Type': 'text/plain' });
h.append('A', '1');
h.append('a', '2');
h.append('Set-Cookie', 'x=1');
h.append('set-cookie', 'y=2');
const name = (f) => { try { f(); return 'none'; } catch (e) { return e.name; } };

const req = new Request('https://example.test/a?b=1', { method: 'post', body: new URLSearchParams({ q: '1' }) });
const res = new Response('{"ok":true}', { status: 201 });
const text = await res.text();
let reread = 'none';
try { await res.text(); } catch (e) { reread = e.name; }
const j = Response.json({ a: [1] });

const c = new AbortController();
let heard = 0;
c.signal.addEventListener('abort', () => { heard++; });
c.abort('stop');
c.abort('again');
// The timeout's timer does not keep the run alive (as in Node): something
// else must, here a longer timer.
const keepAlive = setTimeout(() => {}, 1000);
const timeout = await new Promise((resolve) => {
  const s = AbortSignal.timeout(10);
  s.onabort = () => resolve(s.reason.name);
});
clearTimeout(keepAlive);
const parent = new AbortController();
const any = AbortSignal.any([parent.signal, new AbortController().signal]);
parent.abort();

export default {
  headers: [...h],
  badName: name(() => h.set('bad name', 'x')),
  badValue: name(() => h.set('x', 'a\r\nInjected: 1')),
  request: [req.method, req.url, req.redirect, req.headers.get('content-type')],
  getBody: name(() => new Request('https://example.test/', { body: 'x' })),
  credentials: name(() => new Request('https://user:pw@example.test/')),
  response: [res.status, res.ok, text, reread],
  json: [j.headers.get('content-type'), await j.json()],
  status: name(() => new Response('', { status: 99 })),
  redirect: [Response.redirect('https://example.test/next').status, Response.redirect('https://example.test/next').headers.get('location')],
  abort: [c.signal.aborted, AbortSignal.abort().reason.name, heard, c.signal.reason],
  timeout,
  any: any.aborted,
  bytes: [...(await new Response(new Uint8Array([104, 105])).bytes())],
};
