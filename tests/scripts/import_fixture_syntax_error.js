// outcome: syntax_error
// modules: fixture
// A whitelisted module that does not parse: syntax_error, pointing into it.
// error-name: SyntaxError
// stack: modules/broken/index.js:2
// line: 2
import { ok } from 'broken';
export default ok;
