// outcome: output_limit
// One file over the per-file cap (8 MiB) stops the run; it is not sent.
// files: 1
// file: small.bin application/octet-stream
// error-name: OutputLimitError
import { save } from 'moat:files';

save('small.bin', new Uint8Array(16));
save('big.bin', new Uint8Array(8 * 1024 * 1024 + 1));
export default 'unreachable';
