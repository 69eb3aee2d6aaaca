// secret.js exists, inside the whitelist directory but outside this module's
// directory, and is not whitelisted itself.
import secret from '../secret.js';

export default secret;
