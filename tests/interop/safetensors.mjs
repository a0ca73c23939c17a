// Reads one tensor of a safetensors file (8-byte little-endian header length, JSON header, raw
// data) as a typed array. Only the dtypes the fixtures' reference files use are supported.
import fs from "node:fs";

const typed_arrays = {I32: Int32Array, F32: Float32Array};

export function readTensor(file, name) {
    const bytes = fs.readFileSync(file);
    if (bytes.length < 8) throw new Error(`${file}: too short for a safetensors header`);
    const header_len = Number(bytes.readBigUInt64LE(0));
    if (8 + header_len > bytes.length) throw new Error(`${file}: header length ${header_len} runs past the end`);
    let header;
    try {
        header = JSON.parse(bytes.subarray(8, 8 + header_len).toString("utf8"));
    } catch (e) {
        throw new Error(`${file}: header is not JSON (${e.message})`);
    }
    const info = header[name];
    if (!info || name === "__metadata__") throw new Error(`${file}: no tensor '${name}'`);
    const Type = typed_arrays[info.dtype];
    if (!Type) throw new Error(`${file}: tensor '${name}' has dtype ${info.dtype}, expected I32 or F32`);
    const [begin, end] = info.data_offsets.map((o) => 8 + header_len + o);
    const count = info.shape.reduce((a, b) => a * b, 1);
    if (end > bytes.length || end - begin !== count * Type.BYTES_PER_ELEMENT)
        throw new Error(`${file}: tensor '${name}' data offsets do not match its shape [${info.shape}]`);
    // Copy into a fresh, aligned buffer: the data may start at any byte.
    const data = new Type(count);
    new Uint8Array(data.buffer).set(bytes.subarray(begin, end));
    return {shape: info.shape, data};
}
