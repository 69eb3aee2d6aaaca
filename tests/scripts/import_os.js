// outcome: module_not_allowed
// QuickJS's os module is not registered: refused.
// specifier: os
// error-name: ModuleNotAllowedError
import * as os from 'os';
export default 'unreachable';
