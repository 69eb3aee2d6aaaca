// outcome: module_not_allowed
// modules: fixture
// A whitelisted module's own dynamic import of fs is refused like the
// script's.
// specifier: fs
import readHostFile from 'sneaky';
export default readHostFile;
