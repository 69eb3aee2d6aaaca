// outcome: syntax_error
// A syntax error at module level, with its line and column.
// error-name: SyntaxError
// line: 7
// column: 22
const fine = 1;
const broken = fine +* 2;
