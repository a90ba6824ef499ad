/**
 * The single import point for TensorFlow.js in this project.
 *
 * Every file in ml/ imports `tf` from here, never '@tensorflow/tfjs-core' directly, so all
 * code shares one tfjs-core instance (a second copy would have its own engine, variables and
 * backends). Importing this module also registers the pure-JS CPU backend, so tensor code
 * runs even before `initBackend()` picks a faster one (WASM or native).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

export { tf };
export type Tensor = tf.Tensor;
export type Tensor1D = tf.Tensor1D;
export type Tensor2D = tf.Tensor2D;
export type Tensor3D = tf.Tensor3D;
export type Tensor4D = tf.Tensor4D;
export type Variable = tf.Variable;
