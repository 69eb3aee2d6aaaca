// A monitor's check of an HTTP API: is it up, does its JSON say what it
// should, and did it answer within the latency budget? The request is made
// by moat's egress service under the operator's policy (never from the
// sandbox); a refusal, a DNS failure or a timeout is an answer too.
const TARGET = 'https://httpbin.org/json';
const BUDGET_MS = 1500;

async function check(url) {
  const started = performance.now();
  try {
    const res = await fetch(url, {
      headers: { accept: 'application/json' },
      signal: AbortSignal.timeout(BUDGET_MS * 2),
    });
    const ms = Math.round(performance.now() - started);
    const body = res.ok ? await res.json() : null;
    const title = body?.slideshow?.title;
    return {
      up: res.ok && typeof title === 'string',
      status: res.status,
      title,
      ms,
      withinBudget: ms <= BUDGET_MS,
    };
  } catch (e) {
    // e.cause.code: EGRESS_DENIED, ENOTFOUND, ECONNREFUSED, ETIMEDOUT, ...
    return { up: false, error: e.cause?.code ?? e.name, message: e.message };
  }
}

const result = await check(TARGET);
if (result.up) console.log(`up: ${result.status} "${result.title}" in ${result.ms} ms`);
else console.warn(`down: ${result.error ?? result.status} ${result.message ?? ''}`);
export default result;
