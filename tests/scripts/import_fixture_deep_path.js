// outcome: module_not_allowed
// modules: fixture
// Only a whitelisted package's entry is importable, not a file inside it.
// specifier: greet/lib/strings.js
import { shout } from 'greet/lib/strings.js';
export default shout('x');
