// outcome: ok
// console.log formats values like Node's inspect: nested objects to depth 2,
// arrays, Map and Set, errors with their stack, printf-style directives.
// log: { a: 1, b: 'two', c: [ 1, 2, { d: [Object] } ] }
// log: [ 1, 'a', null, undefined, true, 1.5, -0, 10n, Symbol(s) ]
// log: Map(2) { 'k' => 1, { o: 1 } => [ 2 ] }
// log: Set(3) { 1, 'x', [ 3 ] }
// log: TypeError: bad thing
// log: at thrower (main.js:
// log: Ada is 36.6 years and 5 days, 1.25 extra { x: 1 }
// log: { deep: { deeper: { deepest: { bottom: 1 } } } } / { a: [ 1 ] } / {"j":1} / 100%
// log: { name: 'cyc', self: [Circular] }
// log: ... 900 more items
// log: [ 1, <1 empty item>, 3 ]
// log: [Function: named] [Function (anonymous)] [class K]
// log: Uint8Array(3) [ 1, 2, 3 ] ArrayBuffer { [Uint8Contents]: <00 00 00 00>, byteLength: 4 }
// log: [Object: null prototype] {}
// log: 1970-01-01T00:00:00.000Z /ab+c/gi
// log: Point { x: 1, y: 2 }
// log: { 'needs quotes': 1, g: [Getter], [Symbol(sym)]: 2 }
// log: null undefined NaN Infinity
// log: ... 10000 more characters
// logs: 19
console.log({ a: 1, b: 'two', c: [1, 2, { d: { e: { f: 'deep' } } }] });
console.log([1, 'a', null, undefined, true, 1.5, -0, 10n, Symbol('s')]);
console.log(new Map([['k', 1], [{ o: 1 }, [2]]]));
console.log(new Set([1, 'x', [3]]));
function thrower() {
  return new TypeError('bad thing');
}
console.log(thrower());
console.log('%s is %d years and %i days, %f', 'Ada', 36.6, 5.9, 1.25, 'extra', { x: 1 });
console.log('%o / %O / %j / 100%%', { deep: { deeper: { deepest: { bottom: 1 } } } }, { a: [1] }, { j: 1 });
const cyc = { name: 'cyc' };
cyc.self = cyc;
console.log(cyc);
console.log(new Array(1000).fill(0));
console.log([1, , 3]);
console.log(function named() {}, () => {}, class K {});
console.log(new Uint8Array([1, 2, 3]), new ArrayBuffer(4));
console.log(Object.create(null));
console.log(new Date(0), /ab+c/gi);
class Point {
  constructor() {
    this.x = 1;
    this.y = 2;
  }
}
console.log(new Point());
console.log({ 'needs quotes': 1, [Symbol('sym')]: 2, get g() { return 1; } });
console.log(null, undefined, NaN, Infinity);
console.log(['x'.repeat(20000)]);
console.log('plain string, not quoted');
