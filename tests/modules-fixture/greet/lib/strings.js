// `..` that stays inside the package's own directory is allowed.
import { SUFFIX } from '../constants.js';

export function shout(s) {
  return s.toUpperCase() + SUFFIX;
}
