// outcome: module_not_allowed
// The prelude is loaded as a module named moat:prelude (compiled bytecode),
// but no script can import it: it is not on the whitelist.
// specifier: moat:prelude
// error-name: ModuleNotAllowedError
import prelude from 'moat:prelude';
export default typeof prelude;
