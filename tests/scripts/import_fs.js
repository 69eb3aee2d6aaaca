// outcome: module_not_allowed
// Node's fs does not exist here: refused before anything runs.
// specifier: fs
// error-name: ModuleNotAllowedError
import fs from 'fs';
export default 'unreachable';
