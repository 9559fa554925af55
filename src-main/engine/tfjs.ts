/**
 * TensorFlow.js, loaded with require. Node's ESM `import` of a CommonJS
 * package first runs its export lexer over the package and every bundle it
 * re-exports (tfjs-core, -layers, -converter, -data, -backend-cpu/-webgl):
 * measured 0.35-0.4 s of every process start (the CLI, the engine worker)
 * against 0.12-0.15 s for `require` of the same files, which are the same
 * module instances either way (a test's `import * as tf` gets this object).
 *
 * `tf` is the package; the namespace of the same name carries the types the
 * studio writes as `tf.X` (a const alone cannot name types).
 */
import { createRequire } from 'node:module';
import type * as Tf from '@tensorflow/tfjs';

export const tf = createRequire(import.meta.url)('@tensorflow/tfjs') as typeof Tf;

/* eslint-disable @typescript-eslint/no-namespace */
export declare namespace tf {
  type Rank = Tf.Rank;
  namespace Rank {
    type R4 = Tf.Rank.R4;
  }
  type Tensor<R extends Tf.Rank = Tf.Rank> = Tf.Tensor<R>;
  type Scalar = Tf.Scalar;
  type Tensor1D = Tf.Tensor1D;
  type Tensor2D = Tf.Tensor2D;
  type Tensor3D = Tf.Tensor3D;
  type Tensor4D = Tf.Tensor4D;
  type Variable<R extends Tf.Rank = Tf.Rank> = Tf.Variable<R>;
  type Shape = Tf.Shape;
  type TensorInfo = Tf.TensorInfo;
  type NamedAttrMap = Tf.NamedAttrMap;
  type KernelBackend = Tf.KernelBackend;
  type KernelConfig = Tf.KernelConfig;
  type KernelFunc = Tf.KernelFunc;
  type GradSaveFunc = Tf.GradSaveFunc;
  type Optimizer = Tf.Optimizer;
  type Reduction = Tf.Reduction;
  type LayersModel = Tf.LayersModel;
  type Sequential = Tf.Sequential;
  type SymbolicTensor = Tf.SymbolicTensor;
  type LayerVariable = Tf.LayerVariable;
  type Conv2DBackpropInputInputs = Tf.Conv2DBackpropInputInputs;
  type Conv2DBackpropInputAttrs = Tf.Conv2DBackpropInputAttrs;
  type Conv2DBackpropFilterInputs = Tf.Conv2DBackpropFilterInputs;
  type Conv2DBackpropFilterAttrs = Tf.Conv2DBackpropFilterAttrs;
  type DepthwiseConv2dNativeBackpropInputInputs = Tf.DepthwiseConv2dNativeBackpropInputInputs;
  type DepthwiseConv2dNativeBackpropInputAttrs = Tf.DepthwiseConv2dNativeBackpropInputAttrs;
  type DepthwiseConv2dNativeBackpropFilterInputs = Tf.DepthwiseConv2dNativeBackpropFilterInputs;
  type DepthwiseConv2dNativeBackpropFilterAttrs = Tf.DepthwiseConv2dNativeBackpropFilterAttrs;
  type MaxPoolGradInputs = Tf.MaxPoolGradInputs;
  type MaxPoolGradAttrs = Tf.MaxPoolGradAttrs;
  type OneHotInputs = Tf.OneHotInputs;
  type OneHotAttrs = Tf.OneHotAttrs;
  type TileInputs = Tf.TileInputs;
  type TileAttrs = Tf.TileAttrs;
  namespace layers {
    type Layer = Tf.layers.Layer;
  }
  namespace io {
    type ModelJSON = Tf.io.ModelJSON;
    type ModelArtifacts = Tf.io.ModelArtifacts;
    type WeightsManifestEntry = Tf.io.WeightsManifestEntry;
    type CompositeArrayBuffer = Tf.io.CompositeArrayBuffer;
  }
  namespace serialization {
    type ConfigDict = Tf.serialization.ConfigDict;
    type SerializationMap = Tf.serialization.SerializationMap;
    type Serializable = Tf.serialization.Serializable;
  }
}
