// outcome: ok
// structuredClone copies Maps (object keys), Sets, Dates, RegExps, typed
// arrays, errors and cycles, keeps shared references shared, and refuses
// functions and symbols with a DataCloneError.
// value: {"distinct":true,"cycle":true,"sharedKept":true,"mapKey":1,"mapValue":"object key","set":[1,"two"],"date":"1970-01-02T00:00:00.000Z","re":["a+b","gi"],"bytes":["Uint16Array",1,65535],"err":[true,"cloned"],"nested":[1,[2,[3]]],"refused":["DataCloneError","DataCloneError","DataCloneError"]}
const shared = { shared: true };
const src = {
  map: new Map([[{ key: 1 }, 'object key'], ['s', shared]]),
  set: new Set([1, 'two', shared]),
  date: new Date(86400000),
  re: /a+b/gi,
  bytes: new Uint16Array([1, 65535]),
  err: new RangeError('cloned'),
  nested: { list: [1, [2, [3]]], shared },
};
src.self = src;
const c = structuredClone(src);
const mapKeys = [...c.map.keys()];

const refused = [];
for (const bad of [() => 1, Symbol('s'), { f() {} }]) {
  try {
    structuredClone(bad);
    refused.push('cloned');
  } catch (e) {
    refused.push(e.name);
  }
}

export default {
  distinct: c !== src && c.map !== src.map && c.date !== src.date,
  cycle: c.self === c,
  sharedKept: c.nested.shared === c.map.get('s') && c.set.has(c.nested.shared),
  mapKey: mapKeys[0].key,
  mapValue: c.map.get(mapKeys[0]),
  set: [...c.set].slice(0, 2),
  date: c.date instanceof Date ? c.date.toISOString() : 'not a date',
  re: [c.re.source, c.re.flags],
  bytes: [c.bytes.constructor.name, ...c.bytes],
  err: [c.err instanceof RangeError, c.err.message],
  nested: c.nested.list,
  refused,
};
