// outcome: ok
// The script replaces String and Number prototype methods and the String
// constructor that the runner's formatting would naturally use; logs and
// files still come out right.
// value: "intact"
// log: abc { k: 'v', n: 42 } Symbol(s) 1.5
// log: 7 days
// file-text: s.txt text with ✓
import { save } from 'moat:files';

for (const name of ['slice', 'indexOf', 'charCodeAt', 'toString', 'padStart', 'replace', 'split', 'toWellFormed', 'toLowerCase', 'repeat']) {
  String.prototype[name] = () => {
    throw new Error('tampered String.prototype.' + name);
  };
}
Number.prototype.toString = () => 'forged';
Symbol.prototype.toString = () => 'forged';
String.fromCharCode = () => 'forged';
globalThis.String = function Forged() {
  return 'forged';
};

console.log('abc', { k: 'v', n: 42 }, Symbol('s'), 1.5);
console.log('%d days', 7);
save('s.txt', 'text with ✓');
export default 'intact';
