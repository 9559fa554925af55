/**
 * Keras classes tfjs-layers lacks or reads differently, registered in tfjs's
 * serialization map on import: activations (silu, hard_silu / hard_swish,
 * Keras 3's hard_sigmoid), the Normalization layer, and the global pools
 * with keepdims. from-layers.ts imports this, so every reader that goes
 * through graphFromLayersModel (TF.js layers, Keras .h5 / .keras) has them
 * registered before it loads a model.
 */
export { irActivation, kerasActivationForTfjs, KERAS3_HARD_SIGMOID, tfjsActivation, TFJS_ACTIVATIONS } from './activations.js';
export { GlobalAveragePooling2D, GlobalMaxPooling2D } from './global-pooling.js';
export { Normalization, NORMALIZATION_EPSILON } from './normalization.js';
