// outcome: ok
// URL parsing and resolution, setters, searchParams kept in sync with the
// URL, URLSearchParams from strings, records and pairs, and invalid input.
// value: {"parts":{"href":"https://user:pw@example.com:8443/b?x=1&y=2#frag","origin":"https://example.com:8443","protocol":"https:","username":"user","password":"pw","host":"example.com:8443","hostname":"example.com","port":"8443","pathname":"/b","search":"?x=1&y=2","hash":"#frag"},"afterParams":"https://user:pw@example.com:8443/b?y=2&z=a+b%26c#frag","afterSetters":"https://user:pw@example.com/new%20path?y=2&z=a+b%26c","paramsAfterSearch":[["q","1"]],"sorted":"a=1&a=0&b=2","getAll":[" x","y"],"plus":"a b","has":[true,false],"size":5,"pairs":"k=v&k=w","invalid":"TypeError: Invalid URL","canParse":[false,true,false],"idn":"http://example.com/%C3%A4?%C3%A9#%C3%BC","json":"{\"u\":\"http://h/p\"}","file":"/etc/passwd","relative":"http://h/a/c?d"}
const u = new URL('/a/../b?x=1&y=2#frag', 'https://user:pw@EXAMPLE.com:8443/base/');
const parts = {};
for (const k of ['href', 'origin', 'protocol', 'username', 'password', 'host', 'hostname', 'port', 'pathname', 'search', 'hash']) {
  parts[k] = u[k];
}
u.searchParams.append('z', 'a b&c');
u.searchParams.delete('x');
const afterParams = u.href;
u.port = '443';
u.pathname = '/new path';
u.hash = '';
const afterSetters = u.href;
u.search = '?q=1';
const paramsAfterSearch = [...u.searchParams];

const p = new URLSearchParams({ b: '2', a: '1' });
p.append('a', '0');
p.sort();
const fromString = new URLSearchParams('?q=%20x&q=y&plus=a+b&empty=&=novalue');
const fromPairs = new URLSearchParams([['k', 'v'], ['k', 'w']]);

let invalid = 'none';
try {
  new URL('not a url');
} catch (e) {
  invalid = e.name + (e.message.startsWith('Invalid URL') ? ': Invalid URL' : ': ' + e.message);
}

export default {
  parts,
  afterParams,
  afterSetters,
  paramsAfterSearch,
  sorted: p.toString(),
  getAll: fromString.getAll('q'),
  plus: fromString.get('plus'),
  has: [fromString.has('empty'), fromString.has('missing')],
  size: fromString.size,
  pairs: fromPairs.toString(),
  invalid,
  canParse: [URL.canParse('nope'), URL.canParse('/x', 'http://h/'), URL.canParse('/x', 'bad base')],
  idn: new URL('HTTP://EXAMPLE.com:80/ä?é#ü').href,
  json: JSON.stringify({ u: new URL('http://h/p') }),
  file: new URL('file:///etc/passwd').pathname,
  relative: new URL('../c?d', 'http://h/a/b/').href,
};
