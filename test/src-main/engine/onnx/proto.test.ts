/**
 * The encoder generated from the official onnx.proto (schema/generated,
 * protoc-gen-es) round-trips a model: decoded with the same generated code it
 * is the same message and re-encodes to the same bytes, and onnxruntime-node
 * loads and runs it. The model holds what the writers emit: INT4 / UINT4
 * (packed two a byte, odd lengths), INT16 / UINT16, int32 and int64 tensors,
 * int / ints / float / string attributes, symbolic dimensions, node and
 * model metadata. Its outputs are checked against DequantizeLinear's
 * definition, y = scale · (q − zero point), computed here from the values.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { equals } from '@bufbuild/protobuf';
import { OnnxBuilder } from '../../../../src-main/engine/onnx/builder.js';
import { decodeModel, DT, encodeModel, tensor, tensorValues } from '../../../../src-main/engine/onnx/proto.js';
import { ModelProtoSchema } from '../../../../src-main/engine/onnx/schema/generated/onnx_pb.js';
import { loadOnnxRuntime } from '../../../../src-main/engine/native/session.js';

/** Each quantized type with values spanning its range, an odd count (a half-filled last byte for 4 bits), scale and zero point. */
const CASES = [
  { name: 'int4', dt: DT.INT4, values: Int8Array.of(-8, -3, 0, 5, 7), zp: Int8Array.of(-1), scale: 0.25 },
  { name: 'uint4', dt: DT.UINT4, values: Uint8Array.of(0, 1, 8, 14, 15), zp: Uint8Array.of(8), scale: 0.5 },
  { name: 'int16', dt: DT.INT16, values: Int16Array.of(-32768, -1, 0, 1234, 32767), zp: Int16Array.of(100), scale: 1 / 1024 },
  { name: 'uint16', dt: DT.UINT16, values: Uint16Array.of(0, 1, 32768, 40000, 65535), zp: Uint16Array.of(32768), scale: 1 / 4096 },
] as const;

function model(): Uint8Array {
  const b = new OnnxBuilder('named');
  b.input('x', ['batch', 5]);
  let sum = 'x';
  for (const c of CASES) {
    const q = b.initializer(tensor(`${c.name}/q`, c.dt, [5], c.values));
    const zp = b.initializer(tensor(`${c.name}/zp`, c.dt, [], c.zp));
    const mark = b.mark();
    const y = b.op('DequantizeLinear', [q, b.f32(c.scale, [], `${c.name}/scale`), zp], { axis: 0 }, `${c.name}/dq`);
    b.tagLayer(mark, 'studio.layer', `outer/${c.name}`);
    sum = b.op('Add', [sum, y], {}, `${c.name}/add`);
  }
  // Attribute kinds the lowering writes (ints, float, string) on ops onnxruntime checks them for.
  const t = b.op('Transpose', [b.op('Reshape', [sum, b.i64([0, 5, 1], 'shape')], {}, 'r')], { perm: [0, 2, 1] }, 't');
  const l = b.op('LeakyRelu', [t], { alpha: { float: 0.5 } }, 'leaky');
  const o = b.op('Resize', [b.op('Reshape', [l, b.i64([0, 1, 1, 5], 'shape4')], {}, 'r4'), '', b.f32([1, 1, 1, 1], [4], 'scales')], { mode: 'nearest' }, 'resize');
  b.output('y', o, ['batch', 1, 1, 5]);
  return encodeModel(b.model('roundtrip', { opset: 21, irVersion: 10, domain: 'test', modelVersion: 3, docString: 'round trip', metadata: { k: 'v' } }));
}

test('the generated encoder round-trips a model: same message decoded, same bytes re-encoded', () => {
  const bytes = model();
  const decoded = decodeModel(bytes);
  assert.ok(equals(ModelProtoSchema, decoded, decodeModel(encodeModel(decoded))));
  assert.deepEqual(encodeModel(decoded), bytes);
  assert.equal(decoded.irVersion, 10n);
  assert.deepEqual(decoded.opsetImport.map((o) => [o.domain, o.version]), [['', 21n]]);
  assert.deepEqual(decoded.metadataProps.map((m) => [m.key, m.value]), [['k', 'v']]);
  const g = decoded.graph!;
  for (const c of CASES) {
    const q = g.initializer.find((t) => t.name === `${c.name}/q`)!;
    assert.equal(q.dataType, c.dt);
    assert.deepEqual(q.dims, [5n]);
    assert.equal(q.rawData.length, c.dt === DT.INT4 || c.dt === DT.UINT4 ? 3 : 10, `${c.name}: raw bytes`);
    assert.deepEqual(tensorValues(q), Array.from(c.values), `${c.name}: values read back`);
    const dq = g.node.find((n) => n.name === `${c.name}/dq`)!;
    assert.deepEqual(dq.metadataProps.map((m) => [m.key, m.value]), [['studio.layer', `outer/${c.name}`]]);
  }
  const input = g.input[0]!.type!.value;
  assert.equal(input.case, 'tensorType');
  assert.deepEqual(input.value!.shape!.dim.map((d) => d.value.value), ['batch', 5n]);
  const perm = g.node.find((n) => n.name === 't')!.attribute[0]!;
  assert.deepEqual(perm.ints, [0n, 2n, 1n]);
  assert.equal(g.node.find((n) => n.name === 'leaky')!.attribute[0]!.f, 0.5);
  assert.equal(new TextDecoder().decode(g.node.find((n) => n.name === 'resize')!.attribute[0]!.s), 'nearest');
});

test('onnxruntime-node loads the encoded model and computes DequantizeLinear of every type as defined', async () => {
  const ort = await loadOnnxRuntime();
  const session = await ort.InferenceSession.create(model(), { graphOptimizationLevel: 'disabled' });
  const x = Float32Array.of(0.5, -1, 2, 0, 3);
  const out = await session.run({ x: new ort.Tensor('float32', x, [1, 5]) });
  const y = out['y']!.data as Float32Array;
  for (let i = 0; i < 5; i++) {
    let want = x[i]!;
    for (const c of CASES) want = Math.fround(want + Math.fround(c.scale * (c.values[i]! - c.zp[0]!)));
    if (want < 0) want = Math.fround(want * 0.5);
    assert.equal(y[i], want, `element ${i}`);
  }
  await session.release();
});
