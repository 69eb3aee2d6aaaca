// outcome: module_not_allowed
// Climbing out with .. is refused.
// specifier: ../../etc/passwd
// error-name: ModuleNotAllowedError
import passwd from '../../etc/passwd';
export default 'unreachable';
