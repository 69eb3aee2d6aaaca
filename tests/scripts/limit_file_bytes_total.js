// outcome: output_limit
// limits: {"max_total_file_bytes": 1000}
// Files that fit one by one but not together: the total cap (lowered here)
// stops the run at the file that would cross it.
// files: 2
// file: a.bin application/octet-stream
// file: b.bin application/octet-stream
// error-name: OutputLimitError
import { save } from 'moat:files';

const chunk = new Uint8Array(400);
for (const name of ['a.bin', 'b.bin', 'c.bin', 'd.bin']) save(name, chunk);
export default 'unreachable';
