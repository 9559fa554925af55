/**
 * Test support: random conv / pool geometries (NHWC, dilation 1) covering
 * the paddings the studio meets: 'same', 'valid' and explicit (imported Keras
 * ZeroPadding folded into the conv), strides 1 and 2 per axis.
 */
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';

export type Pad = 'same' | 'valid' | [[0, 0], [number, number], [number, number], [0, 0]];

export interface ConvCase {
  x: [number, number, number, number];
  /** [kh, kw, inChannels, outChannels or channel multiplier] */
  filter: [number, number, number, number];
  strides: [number, number];
  pad: Pad;
  seed: number;
}

const padArb: fc.Arbitrary<Pad> = fc.oneof(
  fc.constant('same' as const),
  fc.constant('valid' as const),
  fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)).map(([t, b, l, r]): Pad => [[0, 0], [t, b], [l, r], [0, 0]]),
);

/** `outMax` bounds the last filter dim: output channels for conv2d, the multiplier for depthwise. */
export function convCases(outMax: number): fc.Arbitrary<ConvCase> {
  return fc
    .record({
      n: fc.integer({ min: 1, max: 3 }),
      h: fc.integer({ min: 1, max: 10 }),
      w: fc.integer({ min: 1, max: 10 }),
      c: fc.integer({ min: 1, max: 5 }),
      out: fc.integer({ min: 1, max: outMax }),
      kh: fc.integer({ min: 1, max: 4 }),
      kw: fc.integer({ min: 1, max: 4 }),
      sh: fc.constantFrom(1, 2),
      sw: fc.constantFrom(1, 2),
      pad: padArb,
      seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
    })
    .filter(({ h, w, kh, kw, pad }) => {
      const [ph, pw] = pad === 'same' ? [kh - 1, kw - 1] : pad === 'valid' ? [0, 0] : [pad[1][0] + pad[1][1], pad[2][0] + pad[2][1]];
      return h + ph >= kh && w + pw >= kw; // at least one output position
    })
    .map(({ n, h, w, c, out, kh, kw, sh, sw, pad, seed }) => ({ x: [n, h, w, c], filter: [kh, kw, c, out], strides: [sh, sw], pad, seed }));
}

/** NHWC output shape of the forward conv for a case. */
export function convOutShape(c: ConvCase, depthwise: boolean): [number, number, number, number] {
  return tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad, undefined, depthwise).outShape;
}

export function describe(c: ConvCase): string {
  return `x=${c.x} filter=${c.filter} strides=${c.strides} pad=${JSON.stringify(c.pad)} seed=${c.seed}`;
}
