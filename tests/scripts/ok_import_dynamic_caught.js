// outcome: ok
// A refused dynamic import rejects with ModuleNotAllowedError naming the
// specifier; a script that catches it goes on and ends ok.
// value: {"name":"ModuleNotAllowedError","specifier":"fs","mentions":true}
let result;
try {
  await import('fs');
  result = 'imported';
} catch (e) {
  result = { name: e.name, specifier: e.specifier, mentions: e.message.includes('"fs"') };
}
export default result;
