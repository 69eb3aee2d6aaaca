    // ------------------------------------------------------------- input
    const KEYS = {
      Enter: { keyCode: 13, code: 'Enter', text: '\r' },
      Tab: { keyCode: 9, code: 'Tab' },
      Backspace: { keyCode: 8, code: 'Backspace' },
      Delete: { keyCode: 46, code: 'Delete' },
      Escape: { keyCode: 27, code: 'Escape' },
      ArrowLeft: { keyCode: 37, code: 'ArrowLeft' },
      ArrowUp: { keyCode: 38, code: 'ArrowUp' },
      ArrowRight: { keyCode: 39, code: 'ArrowRight' },
      ArrowDown: { keyCode: 40, code: 'ArrowDown' },
      Home: { keyCode: 36, code: 'Home' },
      End: { keyCode: 35, code: 'End' },
      PageUp: { keyCode: 33, code: 'PageUp' },
      PageDown: { keyCode: 34, code: 'PageDown' },
      Space: { keyCode: 32, code: 'Space', key: ' ', text: ' ' },
      Shift: { keyCode: 16, code: 'ShiftLeft', modifier: 8 },
      Control: { keyCode: 17, code: 'ControlLeft', modifier: 2 },
      Alt: { keyCode: 18, code: 'AltLeft', modifier: 1 },
      Meta: { keyCode: 91, code: 'MetaLeft', modifier: 4 },
    };
    const keyFor = (key) => {
      const known = ObjectHasOwn(KEYS, key) ? KEYS[key] : null;
      if (known) return { key: known.key || key, code: known.code, keyCode: known.keyCode, text: known.text, modifier: known.modifier || 0 };
      if (key === '\n' || key === '\r') return keyFor('Enter');
      if (typeof key !== 'string' || [...key].length !== 1) throw new ErrorCtor(`Unknown key: "${key}"`);
      const upper = key.toUpperCase();
      const c = upper.charCodeAt(0);
      const letter = c >= 65 && c <= 90;
      const digit = c >= 48 && c <= 57;
      return { key, code: letter ? 'Key' + upper : digit ? 'Digit' + upper : '', keyCode: letter || digit ? c : 0, text: key, modifier: 0 };
    };

    class Keyboard {
      #page;
      #modifiers = 0;
      constructor(page) { this.#page = page; }
      async down(key, options = {}) {
        const k = keyFor(key);
        this.#modifiers |= k.modifier;
        const text = options.text !== undefined ? options.text : this.#modifiers & ~8 ? undefined : k.text;
        await this.#page._send('Input.dispatchKeyEvent', {
          type: text ? 'keyDown' : 'rawKeyDown', modifiers: this.#modifiers, key: k.key, code: k.code,
          windowsVirtualKeyCode: k.keyCode, text, unmodifiedText: text,
        });
      }
      async up(key) {
        const k = keyFor(key);
        this.#modifiers &= ~k.modifier;
        await this.#page._send('Input.dispatchKeyEvent', { type: 'keyUp', modifiers: this.#modifiers, key: k.key, code: k.code, windowsVirtualKeyCode: k.keyCode });
      }
      async press(key, options = {}) {
        await this.down(key, options);
        if (options.delay) await sleep(options.delay);
        await this.up(key);
      }
      async type(text, options = {}) {
        for (const ch of StringCtor(text)) {
          await this.press(ch);
          if (options.delay) await sleep(options.delay);
        }
      }
      async sendCharacter(ch) { await this.#page._send('Input.insertText', { text: ch }); }
    }

    class Mouse {
      #page;
      #x = 0;
      #y = 0;
      #buttons = 0;
      constructor(page) { this.#page = page; }
      async move(x, y) {
        this.#x = x;
        this.#y = y;
        await this.#page._send('Input.dispatchMouseEvent', { type: 'mouseMoved', x, y, buttons: this.#buttons });
      }
      async down(options = {}) {
        const button = options.button || 'left';
        this.#buttons |= button === 'right' ? 2 : button === 'middle' ? 4 : 1;
        await this.#page._send('Input.dispatchMouseEvent', { type: 'mousePressed', x: this.#x, y: this.#y, button, buttons: this.#buttons, clickCount: options.clickCount || 1 });
      }
      async up(options = {}) {
        const button = options.button || 'left';
        this.#buttons &= ~(button === 'right' ? 2 : button === 'middle' ? 4 : 1);
        await this.#page._send('Input.dispatchMouseEvent', { type: 'mouseReleased', x: this.#x, y: this.#y, button, buttons: this.#buttons, clickCount: options.clickCount || 1 });
      }
      async click(x, y, options = {}) {
        await this.move(x, y);
        for (let i = 1; i <= (options.count || 1); i++) {
          await this.down({ ...options, clickCount: i });
          if (options.delay) await sleep(options.delay);
          await this.up({ ...options, clickCount: i });
        }
      }
      async wheel(options = {}) {
        await this.#page._send('Input.dispatchMouseEvent', { type: 'mouseWheel', x: this.#x, y: this.#y, deltaX: options.deltaX || 0, deltaY: options.deltaY || 0 });
      }
    }

