// An uncaught exception ends the run with outcome "error".
function parse(config) {
  if (!config.startsWith('{')) throw new TypeError(`not a JSON object: ${config}`);
  return JSON.parse(config);
}

console.log('parsing the configuration...');
parse('debug = true');
