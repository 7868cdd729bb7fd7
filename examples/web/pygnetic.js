// A pygnetic client for the browser: the wire protocol of docs/topics/protocol.rst over a
// WebSocket, in one ES module with no build step. The page maps "@msgpack/msgpack" to the
// package's ESM file with an import map (see chat.html).
//
//   const client = await connect("ws://localhost:10000", {messages: [["say", ["text"]], ...]});
//   client.on("line", (m) => show(m.nick, m.text));   client.send("say", "hi");   // or {text: "hi"}
//   client.onclose = (code, reason) => ...;            client.close("bye");
import { decode, encode, ExtensionCodec } from "@msgpack/msgpack";

export const PROTOCOL_VERSION = 2;
export const CloseCode = Object.freeze({
  NORMAL: 0, REGISTRY_MISMATCH: 1, SERVER_FULL: 2, SERVER_CLOSING: 3, PROTOCOL_ERROR: 4,
  MESSAGE_TOO_LARGE: 5, TIMEOUT: 6, TRANSPORT_ERROR: 7, SEND_BUFFER_FULL: 8, RATE_LIMITED: 9,
  REFUSED: 10, SESSION_EXPIRED: 11,
});
const [PING, PONG, CLOSE] = [-1, -2, -3];
// pygame's types as msgpack extensions: [code, name, big-endian struct format, field names].
export const PYGAME_TYPES = [[64, "Vector2", "dd", "xy"], [65, "Vector3", "ddd", "xyz"],
  [66, "Rect", "iiii", "xywh"], [67, "FRect", "dddd", "xywh"], [68, "Color", "BBBB", "rgba"]];
const KIND = { d: [8, "Float64"], i: [4, "Int32"], B: [1, "Uint8"] };

function extensionCodec(types) { // a pygame value is {$type: "Vector2", x, y}, both ways
  const codec = new ExtensionCodec();
  for (const [code, name, format, fields] of types.filter((t) => t[3])) {
    const size = [...format].reduce((n, f) => n + KIND[f][0], 0);
    const each = (view, visit) => [...format].reduce((at, f, i) => (visit(at, KIND[f][1], fields[i]), at + KIND[f][0]), 0);
    codec.register({ type: code,
      encode(value) {
        if (value?.$type !== name) return null;
        const view = new DataView(new ArrayBuffer(size));
        each(view, (at, kind, field) => view[`set${kind}`](at, value[field]));
        return new Uint8Array(view.buffer);
      },
      decode(data) {
        if (data.length !== size) throw new Error(`${name} extension of ${data.length} bytes`);
        const view = new DataView(data.buffer, data.byteOffset, size), value = { $type: name };
        each(view, (at, kind, field) => { value[field] = view[`get${kind}`](at); });
        return value;
      } });
  }
  return codec;
}

const fieldList = (fields) => (typeof fields === "string" ? fields.replace(/,/g, " ").split(/\s+/).filter(Boolean) : [...fields]);

// What the registry digest covers, as Python's json.dumps(parts, separators=(",", ":")) writes it.
export function registryJSON(messages, wireTypes = PYGAME_TYPES) {
  const parts = [PROTOCOL_VERSION, "msgpack", messages.map(([name, fields], id) => [id, name, fieldList(fields)])];
  if (wireTypes.length) parts.push([...wireTypes].sort((a, b) => a[0] - b[0]).map(([code, name, format]) => [code, name, code < 64 ? "array" : format]));
  return JSON.stringify(parts).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

export async function registryDigest(messages, wireTypes = PYGAME_TYPES) { // SHA-256, first 16 bytes
  const data = new TextEncoder().encode(registryJSON(messages, wireTypes));
  const subtle = globalThis.crypto?.subtle; // only in secure contexts (https, localhost)
  const hash = subtle ? await subtle.digest("SHA-256", data) : (await import("./sha256.js")).sha256(data);
  return new Uint8Array(hash).slice(0, 16);
}

export function handshakeFrame(payload) { // "PGN", version, payload length (uint16 BE), msgpack map
  const body = encode(payload), frame = new Uint8Array(6 + body.length);
  frame.set([0x50, 0x47, 0x4e, PROTOCOL_VERSION, body.length >> 8, body.length & 0xff]);
  frame.set(body, 6);
  return frame;
}

const fromWebSocket = (code) => (code === 1000 ? 0 : code === 1009 ? CloseCode.MESSAGE_TOO_LARGE
  : code === 1002 || code === 1003 || code === 1007 ? CloseCode.PROTOCOL_ERROR
  : code >= 4000 && code < 4100 ? (code <= 4011 ? code - 4000 : 0) : CloseCode.TRANSPORT_ERROR); // 4000 + pygnetic's code
// Python map keys may be bin, nil or bool; a JavaScript object's keys are strings.
const mapKeyConverter = (key) => (typeof key === "string" || typeof key === "number" ? key : String(key));
const ended = (code, reason) => Object.assign(new Error(`pygnetic: ${reason}`), { code, reason });

export async function connect(url, { messages, wireTypes = PYGAME_TYPES, credentials = null, timeout = 10000 } = {}) {
  const list = messages.map(([name, fields]) => [name, fieldList(fields)]);
  const game = wireTypes.filter((t) => t[0] < 64).length;
  const types = `${wireTypes.some((t) => t[0] >= 64) ? "" : "no "}pygame types${game ? `, ${game} game type(s)` : ""}`;
  const hello = handshakeFrame({ registry: await registryDigest(list, wireTypes), serializer: "msgpack",
    messages: list.length, types, credentials, session: null }); // no session: no -4 acknowledgements
  const ws = new WebSocket(url, "pygnetic");
  ws.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    let refusal = null;
    const timer = setTimeout(() => { ws.close(); reject(ended(CloseCode.TIMEOUT, "no answer from the server")); }, timeout);
    ws.onopen = () => ws.send(hello);
    ws.onmessage = ({ data }) => { // the first message is the server's answer frame
      const bytes = new Uint8Array(data), pgn = String.fromCharCode(...bytes.subarray(0, 3)) === "PGN";
      let answer = null;
      clearTimeout(timer);
      try {
        if (pgn && bytes[3] === PROTOCOL_VERSION) answer = decode(bytes.subarray(6, 6 + ((bytes[4] << 8) | bytes[5])));
      } catch (e) { // not a map we can read: no waiting for a timeout
        refusal = { code: CloseCode.PROTOCOL_ERROR, reason: `undecodable answer (${e.message})` };
        return ws.close(4000 + CloseCode.PROTOCOL_ERROR);
      }
      if (answer?.code === 0) return resolve(new Client(ws, list, extensionCodec(wireTypes), timeout));
      refusal = answer ?? (pgn ? { code: CloseCode.REGISTRY_MISMATCH, reason: `the server speaks protocol version ${bytes[3]}` }
        : { code: CloseCode.PROTOCOL_ERROR, reason: "not a pygnetic server" });
      if (!pgn) ws.close();
    };
    ws.onclose = (e) => { // a refusal: the answer said why, then the server closed (code 4000 + why)
      clearTimeout(timer);
      const error = ended(refusal?.code ?? fromWebSocket(e.code), refusal?.reason || e.reason || "connection closed");
      reject(Object.assign(error, { webSocketCode: e.code }));
    };
  });
}

class Client {
  constructor(ws, list, codec, timeout) {
    Object.assign(this, { ws, codec, onclose: null, closed: false, rtt: null, handlers: {}, heard: performance.now() });
    this.byName = new Map(list.map(([name, fields], id) => [name, { id, name, fields }]));
    this.byId = [...this.byName.values()];
    ws.onmessage = ({ data }) => this.receive(new Uint8Array(data));
    ws.onclose = (e) => this.end(...(this.peerClose ?? [fromWebSocket(e.code), e.reason || "connection lost"]), e.code);
    this.timer = setInterval(() => { // ping the server; it pings us too, and we answer (receive)
      if (performance.now() - this.heard < timeout) return this.raw([PING, performance.now()]);
      this.close(`no answer to pings for ${timeout / 1000} s`, CloseCode.TIMEOUT);
    }, timeout / 4);
  }
  on(name, handler) {
    if (!this.byName.has(name)) throw new Error(`no message named ${name} is registered`);
    (this.handlers[name] ??= []).push(handler);
    return this;
  }
  send(name, ...values) { // positional fields, or one object with exactly the message's fields
    const type = this.byName.get(name), [only] = values;
    if (!type) throw new TypeError(`no message named ${name} is registered`);
    const keys = values.length === 1 && only?.constructor === Object ? Object.keys(only).sort().join() : null;
    if (keys !== null && keys === [...type.fields].sort().join()) values = type.fields.map((f) => only[f]);
    if (values.length !== type.fields.length) throw new TypeError(`${name}(${type.fields.join(", ")}) takes ${type.fields.length} field(s), got ${values.length}`);
    return this.raw([type.id, ...values]);
  }
  raw(array) { // False when closed, as Python's send; one binary WebSocket message per message
    if (this.closed) return false;
    this.ws.send(encode(array, { extensionCodec: this.codec }));
    return true;
  }
  receive(bytes) {
    this.heard = performance.now();
    let raw;
    try { raw = decode(bytes, { extensionCodec: this.codec, mapKeyConverter }); } catch (e) { return this.close(`undecodable message (${e.message})`, CloseCode.PROTOCOL_ERROR); }
    const [id, ...fields] = Array.isArray(raw) ? raw : [null];
    if (id === PING) return this.raw([PONG, fields[0]]);
    if (id === PONG) { this.rtt = performance.now() - fields[0]; return; }
    if (id === CLOSE) { // the WebSocket close follows; a code from a newer server reads as 0
      this.peerClose = [Object.values(CloseCode).includes(fields[0]) ? fields[0] : CloseCode.NORMAL, String(fields[1] ?? "")];
      return;
    }
    const type = this.byId[id];
    if (!type || fields.length !== type.fields.length) return this.close(`invalid message of type id ${id}`, CloseCode.PROTOCOL_ERROR);
    const message = Object.fromEntries(type.fields.map((field, i) => [field, fields[i]]));
    for (const handler of this.handlers[type.name] ?? []) handler(message);
  }
  close(reason = "", code = CloseCode.NORMAL) {
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
