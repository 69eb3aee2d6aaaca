// outcome: module_not_allowed
// Relative imports from the script itself are refused.
// specifier: ./x.js
// error-name: ModuleNotAllowedError
import './x.js';
export default 'unreachable';
