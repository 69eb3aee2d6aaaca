// outcome: ok
// Names with path parts, '..' or control characters, duplicate names, bad
// media types and bad data are refused with a TypeError, and the run goes on.
// files: 1
// value: {"../escape.txt":"TypeError","a/b.txt":"TypeError","a\\b.txt":"TypeError","..":"TypeError","line\nbreak.txt":"TypeError","":"TypeError","name-not-string":"TypeError","bad-type":"TypeError","bad-data":"TypeError","duplicate":"TypeError"}
import { save } from 'moat:files';

const results = {};
const attempt = (label, fn) => {
  try {
    fn();
    results[label] = 'saved';
  } catch (e) {
    results[label] = e.name;
  }
};
for (const name of ['../escape.txt', 'a/b.txt', 'a\\b.txt', '..', 'line\nbreak.txt', '']) {
  attempt(name, () => save(name, 'x'));
}
attempt('name-not-string', () => save({ toString: () => 'x.txt' }, 'x'));
attempt('bad-type', () => save('typed.txt', 'x', { type: 'not a type\r\nX-Injected: 1' }));
attempt('bad-data', () => save('data.bin', { length: 3 }));
save('once.txt', 'first');
attempt('duplicate', () => save('once.txt', 'second'));

export default results;
