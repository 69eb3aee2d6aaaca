// outcome: module_not_allowed
// A fixture package, but the runner was given no whitelist: refused.
// specifier: greet
import greet from 'greet';
export default greet('nobody');
