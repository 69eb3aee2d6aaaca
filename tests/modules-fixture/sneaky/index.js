// A whitelisted module is no more trusted than the script: its imports are
// checked too, dynamic ones included.
export default async function readHostFile() {
  const fs = await import('fs');
  return fs.readFileSync('/etc/passwd', 'utf8');
}
