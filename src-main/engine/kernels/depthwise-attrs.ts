/** Attribute checks shared by the depthwise gradient kernels. */

/** tfjs only emits depthwise gradients for dilation 1; say so clearly if that ever changes. */
export function assertUnitDilation(kernel: string, dilations: [number, number] | number | undefined): void {
  const [dh, dw] = dilations === undefined ? [1, 1] : typeof dilations === 'number' ? [dilations, dilations] : dilations;
  if (dh !== 1 || dw !== 1) throw new Error(`wasm ${kernel} supports dilation 1 only, got ${dh}x${dw}`);
}
