// outcome: ok
// The moat:files module saves strings (as UTF-8, type from the extension) and bytes;
// the named and default exports are the same function.
// file: hello.txt text/plain; charset=utf-8
// file-text: hello.txt héllo, wörld ✓
// file: data.csv text/csv
// file-text: data.csv a,b
// file: raw.bin application/octet-stream
// file: report.json application/json
// files: 4
// value: {"text":{"name":"hello.txt","type":"text/plain; charset=utf-8","size":18},"csv":{"name":"data.csv","type":"text/csv","size":3},"bin":{"name":"raw.bin","type":"application/octet-stream","size":4},"json":{"name":"report.json","type":"application/json","size":11},"same":true}
import { save } from 'moat:files';
import files from 'moat:files';

const text = save('hello.txt', 'héllo, wörld ✓');
const csv = files.save('data.csv', 'a,b', { type: 'text/csv' });
const bin = save('raw.bin', new Uint8Array([0, 1, 2, 255]));
const json = save('report.json', new TextEncoder().encode('{"ok":true}').buffer);

export default { text, csv, bin, json, same: files.save === save };
