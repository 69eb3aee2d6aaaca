// outcome: error
// Serialising the result runs the value's toJSON; when it throws, the run
// ends as an error naming the cause.
// error-name: Error
// error: not JSON-serialisable
// error: toJSON refuses
export default {
  toJSON() {
    throw new Error('toJSON refuses');
  },
};
