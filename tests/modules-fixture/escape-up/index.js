// Climbs out of its own directory and out of the whitelist directory.
import '../../outside.js';

export default 'escaped';
