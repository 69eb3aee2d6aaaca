// outcome: error
// A rejection nobody handles ends the run as an error, even though the
// module itself completed.
// error-name: Error
// error: nobody catches this
Promise.reject(new Error('nobody catches this'));
export default 'finished';
