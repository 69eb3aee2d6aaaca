// outcome: module_not_allowed
// Absolute paths are refused.
// specifier: /etc/passwd
// error-name: ModuleNotAllowedError
import '/etc/passwd';
export default 'unreachable';
