// outcome: module_not_allowed
// A dynamic import of fs, not caught: the rejection ends the run with
// module_not_allowed naming the specifier.
// specifier: fs
// log: before
console.log('before');
export default async function () {
  const fs = await import('fs');
  return fs.readFileSync('/etc/passwd', 'utf8');
}
