// outcome: ok
// Scheduling a million timers stops at the cap (100000 pending) with a
// RangeError; the script catches it, clears what it scheduled, and ends ok.
// timeout_ms: 30000
// value: {"scheduled":100000,"error":"RangeError","capMentioned":true}
const ids = [];
let error = 'none';
let capMentioned = false;
try {
  for (let i = 0; i < 1000000; i++) ids.push(setTimeout(() => {}, 60000));
} catch (e) {
  error = e.name;
  capMentioned = e.message.includes('too many pending timers');
}
for (const id of ids) clearTimeout(id);
export default { scheduled: ids.length, error, capMentioned };
