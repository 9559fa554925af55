/** What every op lowering shares: how a layer is named in a refusal, and the check of an image input. */
import type { GraphNode } from '../../graph/types.js';
import { LoweringError } from '../../lowering-error.js';
import type { OnnxValue } from '../builder.js';

/** What a layer is called in messages: its IR op, or an opaque layer's Keras class. */
export function opName(node: GraphNode): string {
  return node.op === 'layer' ? node.className : node.op;
}

/** The refusal naming the layer and its op, then why: `layer <name> (<op>) <why>`. */
export function refuse(node: GraphNode, why: string): LoweringError {
  return new LoweringError(`layer ${node.name} (${opName(node)}) ${why}`, 'unsupported', { tensor: node.name, format: 'onnx' });
}

/** The input of an op that needs an image [H,W,C]. */
export function imageInput(node: GraphNode, x: OnnxValue): OnnxValue {
  if (x.shape.length !== 3) throw refuse(node, `needs an image input [H,W,C], not [${x.shape.join(',')}]`);
  return x;
}
