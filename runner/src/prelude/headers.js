  // ---------------------------------------------------------------- Headers

  // Names are HTTP tokens, values have no CR, LF or NUL (so nothing a script
  // builds can split a request); both are checked here and again by the
  // egress service.
  const isToken = (s) => {
    if (s.length === 0) return false;
    for (let i = 0; i < s.length; i++) {
      const c = StringCharCodeAt(s, i);
      const ok = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || StringIndexOf("!#$%&'*+-.^_`|~", s[i]) !== -1;
      if (!ok) return false;
    }
    return true;
  };
  const trimHTTP = (s) => {
    let a = 0;
    let b = s.length;
    const ws = (c) => c === 32 || c === 9 || c === 10 || c === 13;
    while (a < b && ws(StringCharCodeAt(s, a))) a++;
    while (b > a && ws(StringCharCodeAt(s, b - 1))) b--;
    return StringSlice(s, a, b);
  };
  const headerName = (name) => {
    const n = StringCtor(name);
    if (!isToken(n)) throw new TypeErrorCtor('Invalid header name: ' + inspect(n));
    return asciiLower(n);
  };
  const headerValue = (value) => {
    const v = trimHTTP(StringCtor(value));
    for (let i = 0; i < v.length; i++) {
      const c = StringCharCodeAt(v, i);
      if (c === 0 || c === 10 || c === 13 || c > 255) throw new TypeErrorCtor('Invalid header value: ' + inspect(v));
    }
    return v;
  };

  let headersList; // (headers) → its [name, value] list: set by the static block
  let headersGuard; // (headers, guard): 'none' | 'immutable'

  class Headers {
    #list = [];
    #guard = 'none';
    static {
      headersList = (h) => h.#list;
      headersGuard = (h, guard) => {
        h.#guard = guard;
      };
    }
    constructor(init = undefined) {
      if (init === undefined || init === null) return;
      if (typeof init !== 'object' && typeof init !== 'function') throw new TypeErrorCtor('Headers init must be an object or a list of pairs');
      const list = tryCall(() => headersList(init), undefined);
      if (list !== undefined) {
        for (let i = 0; i < list.length; i++) push(this.#list, [list[i][0], list[i][1]]);
        return;
      }
      if (init[SymbolIterator] !== undefined) {
        for (const pair of init) {
          const p = [...pair];
          if (p.length !== 2) throw new TypeErrorCtor('each header pair must have exactly two items');
          this.append(p[0], p[1]);
        }
        return;
      }
      const keys = ReflectOwnKeys(init);
      for (let i = 0; i < keys.length; i++) {
        const d = ObjectGetOwnPropertyDescriptor(init, keys[i]);
        if (typeof keys[i] === 'string' && d && own(d, 'enumerable')) this.append(keys[i], init[keys[i]]);
      }
    }
    #check() {
      if (this.#guard === 'immutable') throw new TypeErrorCtor('these headers are immutable');
    }
    append(name, value) {
      this.#check();
      push(this.#list, [headerName(name), headerValue(value)]);
    }
    delete(name) {
      this.#check();
      const n = headerName(name);
      const kept = [];
      for (let i = 0; i < this.#list.length; i++) if (this.#list[i][0] !== n) push(kept, this.#list[i]);
      this.#list = kept;
    }
    get(name) {
      const n = headerName(name);
      const values = [];
      for (let i = 0; i < this.#list.length; i++) if (this.#list[i][0] === n) push(values, this.#list[i][1]);
      return values.length === 0 ? null : join(values, ', ');
    }
    getSetCookie() {
      const values = [];
      for (let i = 0; i < this.#list.length; i++) if (this.#list[i][0] === 'set-cookie') push(values, this.#list[i][1]);
      return values;
    }
    has(name) {
      const n = headerName(name);
      for (let i = 0; i < this.#list.length; i++) if (this.#list[i][0] === n) return true;
      return false;
    }
    set(name, value) {
      this.#check();
      const n = headerName(name);
      const v = headerValue(value);
      const kept = [];
      let done = false;
      for (let i = 0; i < this.#list.length; i++) {
        if (this.#list[i][0] !== n) push(kept, this.#list[i]);
        else if (!done) {
          push(kept, [n, v]);
          done = true;
        }
      }
      if (!done) push(kept, [n, v]);
      this.#list = kept;
    }
    // The sorted, combined view the standard iterates (set-cookie apart).
    #sorted() {
      const names = [];
      for (let i = 0; i < this.#list.length; i++) {
        const n = this.#list[i][0];
        let seen = false;
        for (let j = 0; j < names.length; j++) if (names[j] === n) seen = true;
        if (!seen) push(names, n);
      }
      // Insertion sort: header lists are short, and Array.prototype.sort is the script's.
      for (let i = 1; i < names.length; i++) {
        const n = names[i];
        let j = i - 1;
        while (j >= 0 && names[j] > n) {
          names[j + 1] = names[j];
          j--;
        }
        names[j + 1] = n;
      }
      const out = [];
      for (let i = 0; i < names.length; i++) {
        if (names[i] === 'set-cookie') {
          const all = this.getSetCookie();
          for (let j = 0; j < all.length; j++) push(out, ['set-cookie', all[j]]);
        } else push(out, [names[i], this.get(names[i])]);
      }
      return out;
    }
    *entries() {
      const list = this.#sorted();
      for (let i = 0; i < list.length; i++) yield [list[i][0], list[i][1]];
    }
    *keys() {
      const list = this.#sorted();
      for (let i = 0; i < list.length; i++) yield list[i][0];
    }
    *values() {
      const list = this.#sorted();
      for (let i = 0; i < list.length; i++) yield list[i][1];
    }
    forEach(callback, thisArg = undefined) {
      const list = this.#sorted();
      for (let i = 0; i < list.length; i++) ReflectApply(callback, thisArg, [list[i][1], list[i][0], this]);
    }
    [SymbolIterator]() {
      return this.entries();
    }
    get [SymbolToStringTag]() {
      return 'Headers';
    }
  }

  define(globalThis, 'Headers', Headers);
