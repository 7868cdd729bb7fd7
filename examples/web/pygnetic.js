// A pygnetic client for the browser: docs/topics/protocol.rst over a WebSocket, in one ES
// module with no build step; comments in quotes name that page's sections. The page maps
// "@msgpack/msgpack" to the package's ESM file with an import map (see chat.html).
//
//   const client = await connect("ws://localhost:10000", { messages: [["say", ["text"]]] });
//   client.on("say", (m) => show(m.text));
//   client.send("say", "hi"); // or client.send("say", { text: "hi" })
//   client.onclose = (code, reason) => show(`closed: ${reason}`);
//   client.close("bye");
import { decode, encode } from "@msgpack/msgpack";
import { extensionCodec, PYGAME_TYPES } from "./pygame-types.js";

export { PYGAME_TYPES };
export const PROTOCOL_VERSION = 2;
// "Closing, and close codes": the table, as Python's pygnetic.protocol.CloseCode.
export const CloseCode = Object.freeze({
  NORMAL: 0, REGISTRY_MISMATCH: 1, SERVER_FULL: 2, SERVER_CLOSING: 3, PROTOCOL_ERROR: 4,
  MESSAGE_TOO_LARGE: 5, TIMEOUT: 6, TRANSPORT_ERROR: 7, SEND_BUFFER_FULL: 8, RATE_LIMITED: 9,
  REFUSED: 10, SESSION_EXPIRED: 11,
});
const [PING, PONG, CLOSE] = [-1, -2, -3]; // "Control messages": the protocol's own type ids
const HEADER_SIZE = 6; // "The handshake frame": "PGN", version, payload length (uint16)

// A message's fields, as a list or as a namedtuple-style "a b" or "a, b" string.
const fieldList = (fields) =>
  typeof fields === "string" ? fields.split(/[\s,]+/).filter(Boolean) : [...fields];

// "The registry digest": what it covers, as Python's json.dumps(parts, separators=(",", ":")).
export function registryJSON(messages, wireTypes = PYGAME_TYPES) {
  const numbered = messages.map(([name, fields], id) => [id, name, fieldList(fields)]);
  const parts = [PROTOCOL_VERSION, "msgpack", numbered];
  // Wire types in code order: a game's own (below 64) is "array", a pygame type its format.
  const byCode = [...wireTypes].sort((a, b) => a[0] - b[0]);
  const describe = ([code, name, format]) => [code, name, code < 64 ? "array" : format];
  if (byCode.length) parts.push(byCode.map(describe));
  // Python writes each UTF-16 code unit from U+007F up as \uXXXX; JSON.stringify does not.
  const escape = (unit) => `\\u${unit.charCodeAt(0).toString(16).padStart(4, "0")}`;
  return JSON.stringify(parts).replace(/[\u007f-\uffff]/g, escape);
}

// The SHA-256's first 16 bytes. crypto.subtle exists only in secure contexts (https://,
// localhost): a page opened at a LAN address computes it with sha256.js instead.
export async function registryDigest(messages, wireTypes = PYGAME_TYPES) {
  const text = new TextEncoder().encode(registryJSON(messages, wireTypes));
  const subtle = globalThis.crypto?.subtle;
  const hash = subtle
    ? await subtle.digest("SHA-256", text)
    : (await import("./sha256.js")).sha256(text);
  return new Uint8Array(hash).slice(0, 16);
}

export function handshakeFrame(payload) {
  const body = encode(payload);
  const frame = new Uint8Array(HEADER_SIZE + body.length);
  frame.set([0x50, 0x47, 0x4e, PROTOCOL_VERSION, body.length >> 8, body.length & 0xff]);
  frame.set(body, HEADER_SIZE);
  return frame;
}

// "Hello": our wire types in a few words, only quoted in a refusal's reason.
function describeTypes(wireTypes) {
  const pygame = wireTypes.some(([code]) => code >= 64) ? "pygame types" : "no pygame types";
  const gameTypes = wireTypes.filter(([code]) => code < 64).length;
  return gameTypes ? `${pygame}, ${gameTypes} game type(s)` : pygame;
}

// "Closing, and close codes": a WebSocket close code read as pygnetic's.
function fromWebSocket(code) {
  if (code === 1000) return CloseCode.NORMAL;
  if (code === 1009) return CloseCode.MESSAGE_TOO_LARGE; // the WebSocket layer's size limit
  if (code === 1002 || code === 1003 || code === 1007) return CloseCode.PROTOCOL_ERROR;
  if (code >= 4000 && code <= 4011) return code - 4000; // the server closes with 4000 + code
  if (code >= 4012 && code < 4100) return CloseCode.NORMAL; // a newer server's code reads as 0
  return CloseCode.TRANSPORT_ERROR; // 1006 and others: the connection was lost
}

// "Messages": Python's map keys may be bin, nil or bool; a JavaScript object's are strings.
const toObjectKey = (key) => (["string", "number"].includes(typeof key) ? key : String(key));
// Whether send() was given one object of the fields: its keys are exactly them, in any order.
const hasExactly = (object, fields) =>
  Object.keys(object).sort().join() === [...fields].sort().join();
// What connect() rejects with: error.code is a CloseCode, error.reason says why.
const closedError = (code, reason) =>
  Object.assign(new Error(`pygnetic: ${reason}`), { code, reason });

// "A client, step by step": resolves to a Client once the server accepts our hello.
export async function connect(url, options = {}) {
  const { messages, wireTypes = PYGAME_TYPES, credentials = null, timeout = 10000 } = options;
  const list = messages.map(([name, fields]) => [name, fieldList(fields)]);
  const hello = handshakeFrame({ // "Hello: client to server", its keys in the table's order
    registry: await registryDigest(list, wireTypes),
    serializer: "msgpack",
    messages: list.length,
    types: describeTypes(wireTypes),
    credentials,
    session: null, // no session asked for, so the server sends no -4 acknowledgements
  });
  const ws = new WebSocket(url, "pygnetic");
  ws.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    let refusal = null; // { code, reason }: why, for onclose
    const timer = setTimeout(() => {
      ws.close();
      reject(closedError(CloseCode.TIMEOUT, "no answer from the server"));
    }, timeout);
    ws.onopen = () => ws.send(hello); // and nothing else before the answer
    ws.onmessage = ({ data }) => { // "Answer: server to client", the first message
      clearTimeout(timer);
      const bytes = new Uint8Array(data);
      if (String.fromCharCode(...bytes.subarray(0, 3)) !== "PGN") {
        refusal = { code: CloseCode.PROTOCOL_ERROR, reason: "not a pygnetic server" };
        return ws.close(); // a stranger would not close for us
      }
      const payload = bytes.subarray(HEADER_SIZE, HEADER_SIZE + ((bytes[4] << 8) | bytes[5]));
      let answer = null;
      try {
        if (bytes[3] === PROTOCOL_VERSION) answer = decode(payload);
      } catch (error) { // not a map we can read: fail now rather than after a timeout
        const reason = `undecodable answer (${error.message})`;
        refusal = { code: CloseCode.PROTOCOL_ERROR, reason };
        return ws.close(4000 + CloseCode.PROTOCOL_ERROR);
      }
      if (answer?.code === 0) {
        return resolve(new Client(ws, list, extensionCodec(wireTypes), timeout));
      }
      // Refused: the server closes next (4000 + code), and onclose rejects.
      const version = `the server speaks protocol version ${bytes[3]}`;
      refusal = answer ?? { code: CloseCode.REGISTRY_MISMATCH, reason: version };
    };
    ws.onclose = (event) => {
      clearTimeout(timer);
      const code = refusal?.code ?? fromWebSocket(event.code);
      const reason = refusal?.reason || event.reason || "connection closed";
      reject(Object.assign(closedError(code, reason), { webSocketCode: event.code }));
    };
  });
}

class Client {
  constructor(ws, list, codec, timeout) {
    Object.assign(this, { ws, codec, onclose: null, closed: false, rtt: null, handlers: {} });
    this.heard = performance.now(); // when the server last sent anything
    this.byName = new Map(list.map(([name, fields], id) => [name, { id, name, fields }]));
    this.byId = [...this.byName.values()];
    ws.onmessage = ({ data }) => this.receive(new Uint8Array(data));
    ws.onclose = (event) => { // the server's -3 said why, if it sent one
      const lost = [fromWebSocket(event.code), event.reason || "connection lost"];
      this.end(...(this.peerClose ?? lost), event.code);
    };
    // "Pings and timeouts": the server pings us too (receive answers); ours notice a dead server.
    this.timer = setInterval(() => {
      if (performance.now() - this.heard < timeout) return this.raw([PING, performance.now()]);
      this.close(`no answer to pings for ${timeout / 1000} s`, CloseCode.TIMEOUT);
    }, timeout / 4);
  }

  on(name, handler) { // handler(message): an object of the message's fields
    if (!this.byName.has(name)) throw new Error(`no message named ${name} is registered`);
    (this.handlers[name] ??= []).push(handler);
    return this;
  }

  send(name, ...values) { // the fields positionally, or one object with exactly those keys
    const type = this.byName.get(name);
    if (!type) throw new TypeError(`no message named ${name} is registered`);
    const [object] = values;
    if (values.length === 1 && object?.constructor === Object && hasExactly(object, type.fields)) {
      values = type.fields.map((field) => object[field]);
    }
    if (values.length !== type.fields.length) {
      const takes = `${name}(${type.fields.join(", ")}) takes ${type.fields.length} field(s)`;
      throw new TypeError(`${takes}, got ${values.length}`);
    }
    return this.raw([type.id, ...values]);
  }

  raw(array) { // "Messages": one binary WebSocket message each; false once closed, as in Python
    if (this.closed) return false;
    this.ws.send(encode(array, { extensionCodec: this.codec }));
    return true;
  }

  receive(bytes) {
    this.heard = performance.now();
    let array;
    try {
      array = decode(bytes, { extensionCodec: this.codec, mapKeyConverter: toObjectKey });
    } catch (error) {
      return this.close(`undecodable message (${error.message})`, CloseCode.PROTOCOL_ERROR);
    }
    const [id, ...values] = Array.isArray(array) ? array : [null];
    if (id === PING) return this.raw([PONG, values[0]]); // the stamp as it came
    if (id === PONG) {
      this.rtt = performance.now() - values[0];
      return;
    }
    if (id === CLOSE) { // the WebSocket close follows; a code from a newer server reads as 0
      const code = Object.values(CloseCode).includes(values[0]) ? values[0] : CloseCode.NORMAL;
      this.peerClose = [code, String(values[1] ?? "")];
      return;
    }
    const type = this.byId[id];
    if (!type || values.length !== type.fields.length) {
      return this.close(`invalid message of type id ${id}`, CloseCode.PROTOCOL_ERROR);
    }
    const message = Object.fromEntries(type.fields.map((field, i) => [field, values[i]]));
    for (const handler of this.handlers[type.name] ?? []) handler(message);
  }

  close(reason = "", code = CloseCode.NORMAL) { // -3 says why, then the WebSocket's own close
    this.raw([CLOSE, code, reason]);
    this.ws.close(code ? 4000 + code : 1000);
    this.end(code, reason, null);
  }

  end(code, reason, webSocketCode) {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.onclose?.(code, reason, webSocketCode);
  }
}
