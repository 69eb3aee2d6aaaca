// outcome: module_not_allowed
// Only the moat:* modules the runner provides exist.
// specifier: moat:shell
// error-name: ModuleNotAllowedError
import 'moat:shell';
export default 'unreachable';
