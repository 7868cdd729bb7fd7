// pygame's Vector2, Vector3, Rect, FRect and Color on the wire, for pygnetic.js: msgpack
// extensions 64 to 68 with big-endian payloads (docs/topics/protocol.rst, "Messages"; the
// bytes are in docs/reference/serialization.rst). In JavaScript a pygame value is a plain
// object, {$type: "Vector2", x: 1, y: 2}, both when sent and when received.
import { ExtensionCodec } from "@msgpack/msgpack";

// [extension code, name, struct format, a field name for each format letter]. The first three
// are what the registry digest covers, so they must be the server's exactly.
export const PYGAME_TYPES = [
  [64, "Vector2", "dd", "xy"],
  [65, "Vector3", "ddd", "xyz"],
  [66, "Rect", "iiii", "xywh"],
  [67, "FRect", "dddd", "xywh"],
  [68, "Color", "BBBB", "rgba"],
];

// Python's struct letters as DataView methods (get/set + kind), big-endian, DataView's default.
const STRUCT_LETTERS = {
  d: { size: 8, kind: "Float64" },
  i: { size: 4, kind: "Int32" },
  B: { size: 1, kind: "Uint8" },
};

// Where each field sits in the payload, and the payload's size in bytes.
function layoutOf(format, fieldNames) {
  const slots = [];
  let offset = 0;
  for (const [i, letter] of [...format].entries()) {
    const { size, kind } = STRUCT_LETTERS[letter];
    slots.push({ field: fieldNames[i], offset, kind });
    offset += size;
  }
  return { slots, size: offset };
}

// The codec to give @msgpack/msgpack's encode and decode. A type without field names (a game's
// own, from Python's register_type) is not registered: it arrives as ExtData.
export function extensionCodec(wireTypes) {
  const codec = new ExtensionCodec();
  for (const [code, name, format, fieldNames] of wireTypes) {
    if (!fieldNames) continue;
    const { slots, size } = layoutOf(format, fieldNames);
    codec.register({
      type: code,
      encode(value) {
        if (value?.$type !== name) return null; // not this type: msgpack tries the next one
        const view = new DataView(new ArrayBuffer(size));
        for (const { field, offset, kind } of slots) {
          view[`set${kind}`](offset, value[field]);
        }
        return new Uint8Array(view.buffer);
      },
      decode(data) {
        if (data.length !== size) throw new Error(`${name} extension of ${data.length} bytes`);
        const view = new DataView(data.buffer, data.byteOffset, size);
        const value = { $type: name };
        for (const { field, offset, kind } of slots) {
          value[field] = view[`get${kind}`](offset);
        }
        return value;
      },
    });
  }
  return codec;
}
