// outcome: ok
// atob/btoa: ASCII and all 256 byte values round trip; characters above
// U+00FF and invalid base64 are refused with InvalidCharacterError.
// value: {"hello":"aGVsbG8=","back":"hello","unpadded":"hello","spaces":"hello","roundTrip":true,"refused":["InvalidCharacterError","InvalidCharacterError","InvalidCharacterError"]}
const all = String.fromCharCode(...Array.from({ length: 256 }, (_, i) => i));
const refused = [];
for (const fn of [() => btoa('✓'), () => atob('!!!'), () => atob('abcde')]) {
  try {
    fn();
    refused.push('accepted');
  } catch (e) {
    refused.push(e.name);
  }
}
export default {
  hello: btoa('hello'),
  back: atob('aGVsbG8='),
  unpadded: atob('aGVsbG8'),
  spaces: atob(' aGVs bG8= '),
  roundTrip: atob(btoa(all)) === all,
  refused,
};
