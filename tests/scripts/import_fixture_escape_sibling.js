// outcome: module_not_allowed
// modules: fixture
// The whitelisted module escape-sibling imports '../secret.js', a real file
// in the whitelist directory but outside the module's own directory.
// specifier: ../secret.js
// no-log: SECRET
import secret from 'escape-sibling';
console.log(secret);
export default secret;
