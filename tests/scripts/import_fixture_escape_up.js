// outcome: module_not_allowed
// modules: fixture
// The whitelisted module escape-up imports '../../outside.js': out of its own
// directory and the whitelist's. The refusal names that specifier.
// specifier: ../../outside.js
// error: leaves the module's directory
import value from 'escape-up';
export default value;
