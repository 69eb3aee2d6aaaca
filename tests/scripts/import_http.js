// outcome: module_not_allowed
// URLs are refused: no network, no remote modules.
// specifier: http://example.com/x.js
// error-name: ModuleNotAllowedError
import 'http://example.com/x.js';
export default 'unreachable';
