  // ------------------------------------------------------------------ URLs

  // URL parts, in the order the host returns them.
  const HREF = 0, ORIGIN = 1, PROTOCOL = 2, USERNAME = 3, PASSWORD = 4, HOST = 5, HOSTNAME = 6, PORT = 7, PATHNAME = 8, SEARCH = 9, HASH = 10;
  const searchParamsUpdate = Symbol('update');

  class URLSearchParams {
    #list = [];
    #url = null;
    constructor(init = undefined) {
      if (init === undefined || init === null) return;
      if (typeof init === 'object' || typeof init === 'function') {
        const iter = init[SymbolIterator];
        if (iter !== undefined) {
          for (const pair of { [SymbolIterator]: () => ReflectApply(iter, init, []) }) {
            const p = [...pair];
            if (p.length !== 2) throw new TypeErrorCtor('each pair must have exactly two items');
            push(this.#list, [StringToWellFormed(StringCtor(p[0])), StringToWellFormed(StringCtor(p[1]))]);
          }
          return;
        }
        const keys = ReflectOwnKeys(init);
        for (let i = 0; i < keys.length; i++) {
          const d = ObjectGetOwnPropertyDescriptor(init, keys[i]);
          if (typeof keys[i] === 'string' && d && own(d, 'enumerable')) push(this.#list, [StringToWellFormed(keys[i]), StringToWellFormed(StringCtor(init[keys[i]]))]);
        }
        return;
      }
      this.#parse(StringCtor(init));
    }
    #parse(s) {
      if (s[0] === '?') s = StringSlice(s, 1);
      const flat = host.formParse(StringToWellFormed(s));
      this.#list = [];
      for (let i = 0; i + 1 < flat.length; i += 2) push(this.#list, [flat[i], flat[i + 1]]);
    }
    #update() {
      if (this.#url) this.#url[searchParamsUpdate](this.toString());
    }
    static [searchParamsUpdate](params, url, query) {
      params.#url = url;
      params.#parse(query);
    }
    get size() {
      return this.#list.length;
    }
    append(name, value) {
      push(this.#list, [StringToWellFormed(StringCtor(name)), StringToWellFormed(StringCtor(value))]);
      this.#update();
    }
    delete(name, value = undefined) {
      name = StringCtor(name);
      const kept = [];
      for (let i = 0; i < this.#list.length; i++) {
        // Indexed, not destructured: destructuring runs Array.prototype's iterator.
        const k = this.#list[i][0];
        const v = this.#list[i][1];
        if (k !== name || (value !== undefined && v !== StringCtor(value))) push(kept, this.#list[i]);
      }
      this.#list = kept;
      this.#update();
    }
    get(name) {
      name = StringCtor(name);
      for (let i = 0; i < this.#list.length; i++) if (this.#list[i][0] === name) return this.#list[i][1];
      return null;
    }
    getAll(name) {
      name = StringCtor(name);
      const out = [];
      for (let i = 0; i < this.#list.length; i++) if (this.#list[i][0] === name) push(out, this.#list[i][1]);
      return out;
    }
    has(name, value = undefined) {
      name = StringCtor(name);
      for (let i = 0; i < this.#list.length; i++) {
        if (this.#list[i][0] === name && (value === undefined || this.#list[i][1] === StringCtor(value))) return true;
      }
      return false;
    }
    set(name, value) {
      name = StringToWellFormed(StringCtor(name));
      value = StringToWellFormed(StringCtor(value));
      const kept = [];
      let done = false;
      for (let i = 0; i < this.#list.length; i++) {
        if (this.#list[i][0] !== name) push(kept, this.#list[i]);
        else if (!done) {
          push(kept, [name, value]);
          done = true;
        }
      }
      if (!done) push(kept, [name, value]);
      this.#list = kept;
      this.#update();
    }
    sort() {
      // Stable insertion sort by UTF-16 code units, as the standard asks.
      const l = this.#list;
      for (let i = 1; i < l.length; i++) {
        const cur = l[i];
        let j = i - 1;
        while (j >= 0 && l[j][0] > cur[0]) {
          l[j + 1] = l[j];
          j--;
        }
        l[j + 1] = cur;
      }
      this.#update();
    }
    forEach(callback, thisArg = undefined) {
      for (let i = 0; i < this.#list.length; i++) ReflectApply(callback, thisArg, [this.#list[i][1], this.#list[i][0], this]);
    }
    *entries() {
      for (let i = 0; i < this.#list.length; i++) yield [this.#list[i][0], this.#list[i][1]];
    }
    *keys() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][0];
    }
    *values() {
      for (let i = 0; i < this.#list.length; i++) yield this.#list[i][1];
    }
    [SymbolIterator]() {
      return this.entries();
    }
    toString() {
      const flat = [];
      for (let i = 0; i < this.#list.length; i++) {
        push(flat, this.#list[i][0]);
        push(flat, this.#list[i][1]);
      }
      return host.formSerialize(flat);
    }
  }

  class URL {
    #parts;
    #params;
    constructor(input, base = undefined) {
      const parts = host.urlParse(StringToWellFormed(StringCtor(input)), base === undefined ? undefined : StringToWellFormed(StringCtor(base)));
      // The host answers `undefined` (Rust's None) for an invalid URL.
      if (parts === undefined) throw new TypeErrorCtor('Invalid URL: ' + StringCtor(input));
      this.#parts = parts;
      this.#params = new URLSearchParams();
      URLSearchParams[searchParamsUpdate](this.#params, this, parts[SEARCH]);
    }
    static canParse(input, base = undefined) {
      return host.urlParse(StringCtor(input), base === undefined ? undefined : StringCtor(base)) !== undefined;
    }
    static parse(input, base = undefined) {
      try {
        return new URL(input, base);
      } catch {
        return null;
      }
    }
    #set(part, value) {
      this.#parts = host.urlSet(this.#parts[HREF], part, StringToWellFormed(StringCtor(value)));
      if (part === 'href' || part === 'search') URLSearchParams[searchParamsUpdate](this.#params, this, this.#parts[SEARCH]);
    }
    [searchParamsUpdate](query) {
      this.#parts = host.urlSet(this.#parts[HREF], 'search', query);
    }
    get href() { return this.#parts[HREF]; }
    set href(v) {
      if (host.urlParse(StringCtor(v), undefined) === undefined) throw new TypeErrorCtor('Invalid URL: ' + StringCtor(v));
      this.#set('href', v);
    }
    get origin() { return this.#parts[ORIGIN]; }
    get protocol() { return this.#parts[PROTOCOL]; }
    set protocol(v) { this.#set('protocol', v); }
    get username() { return this.#parts[USERNAME]; }
    set username(v) { this.#set('username', v); }
    get password() { return this.#parts[PASSWORD]; }
    set password(v) { this.#set('password', v); }
    get host() { return this.#parts[HOST]; }
    set host(v) { this.#set('host', v); }
    get hostname() { return this.#parts[HOSTNAME]; }
    set hostname(v) { this.#set('hostname', v); }
    get port() { return this.#parts[PORT]; }
    set port(v) { this.#set('port', v); }
    get pathname() { return this.#parts[PATHNAME]; }
    set pathname(v) { this.#set('pathname', v); }
    get search() { return this.#parts[SEARCH]; }
    set search(v) { this.#set('search', v); }
    get hash() { return this.#parts[HASH]; }
    set hash(v) { this.#set('hash', v); }
    get searchParams() { return this.#params; }
    toString() { return this.#parts[HREF]; }
    toJSON() { return this.#parts[HREF]; }
  }
  define(globalThis, 'URL', URL);
  define(globalThis, 'URLSearchParams', URLSearchParams);

