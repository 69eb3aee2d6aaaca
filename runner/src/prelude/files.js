  // ------------------------------------------------------------- moat:files

  const EXTENSION_TYPES = ObjectCreate(null);
  EXTENSION_TYPES.png = 'image/png';
  EXTENSION_TYPES.jpg = 'image/jpeg';
  EXTENSION_TYPES.jpeg = 'image/jpeg';
  EXTENSION_TYPES.gif = 'image/gif';
  EXTENSION_TYPES.svg = 'image/svg+xml';
  EXTENSION_TYPES.json = 'application/json';
  EXTENSION_TYPES.txt = 'text/plain';
  EXTENSION_TYPES.csv = 'text/csv';
  EXTENSION_TYPES.html = 'text/html';
  EXTENSION_TYPES.md = 'text/markdown';

  const typeFor = (name) => {
    let dot = -1;
    for (let i = name.length - 1; i >= 0; i--) if (name[i] === '.') { dot = i; break; }
    const ext = dot === -1 ? '' : asciiLower(StringSlice(name, dot + 1));
    return EXTENSION_TYPES[ext] || 'application/octet-stream';
  };

  // save(name, data, { type }) → { name, type, size }: data is a string
  // (saved as UTF-8) or binary (ArrayBuffer, typed array, DataView).
  function save(name, data, options = undefined) {
    if (typeof name !== 'string') throw new TypeErrorCtor('the file name must be a string');
    let type = options === undefined || options === null ? undefined : options.type;
    const isText = typeof data === 'string';
    type = type === undefined ? typeFor(name) + (isText && typeFor(name) !== 'application/octet-stream' && StringIndexOf(typeFor(name), 'text/') === 0 ? '; charset=utf-8' : '') : StringCtor(type);
    const bytes = isText ? host.utf8Encode(StringToWellFormed(data)) : bytesOf(data, 'The file data');
    host.saveFile(name, bytes, type);
    return ObjectFreeze({ name, type, size: bytes.length });
  }

