// outcome: ok
// A default export that is a plain value (with a Date, serialised by toJSON).
// value: {"answer":42,"when":"1970-01-01T00:00:00.000Z","list":[1,2,3]}
export default { answer: 42, when: new Date(0), list: [1, 2, 3] };
