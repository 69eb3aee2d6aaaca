// outcome: module_not_allowed
// A node: URL is not a whitelisted name.
// specifier: node:fs
// error-name: ModuleNotAllowedError
import { readFileSync } from 'node:fs';
export default 'unreachable';
