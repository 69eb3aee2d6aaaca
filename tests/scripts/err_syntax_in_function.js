// outcome: syntax_error
// An unterminated function body, reported where the parser gave up (the end
// of the file) with line and column.
// error-name: SyntaxError
// line: 11
// column: 1
export default function () {
  return {
    a: 1,

