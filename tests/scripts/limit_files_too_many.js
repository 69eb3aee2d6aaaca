// outcome: output_limit
// More files than the cap (16): the 17th is refused with a RangeError and the
// run stops even though the script catches it and tries to go on.
// files: 16
// file: f0.txt text/plain; charset=utf-8
// file: f15.txt text/plain; charset=utf-8
// error-name: OutputLimitError
import { save } from 'moat:files';

const errors = [];
for (let i = 0; i < 100; i++) {
  try {
    save('f' + i + '.txt', 'file ' + i);
  } catch (e) {
    errors.push(e.name);
  }
}
export default errors;
