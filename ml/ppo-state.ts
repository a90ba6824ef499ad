/**
 * The PPO trainer's checkpoint record: everything a fresh process needs to continue a run
 * bit-for-bit (what TRL, OpenRLHF and DeepSpeed-Chat do not save: RNG, KL coefficient,
 * data position, optimizer moments).
 *
 * Tensors (trainable weights and both Adam moments, in the fixed variable order) go into
 * the checkpoint's tensor list; counters and small states go into its JSON `state`. The
 * frozen base weights are not stored: the trainer is rebuilt on the same SFT policy, and a
 * SHA-256 of the frozen weights proves it is the same one.
 */
import { createHash } from 'node:crypto';
import { tf } from './tf';
import type { AdamState } from './optimizer';
import type { CheckpointTensor } from './checkpoint';
import type { KlControllerState } from './kl-controller';
import type { RngState } from './rng';
import type { PromptCursorState } from './ppo-rollout';
import { PpoStateError } from './ppo-errors';

export const PPO_STATE_FORMAT = 'ppo-trainer/1';

/** One tensor of a checkpoint. */
export type StateTensor = CheckpointTensor;

/** JSON part of a PPO checkpoint. */
export interface PpoTrainerState {
  format: typeof PPO_STATE_FORMAT;
  seed: number;
  /** PPO updates completed. */
  updatesDone: number;
  /** Stable names of the trainable variables, in optimizer order. */
  variableNames: string[];
  adam: Omit<AdamState, 'm' | 'v'>;
  rng: RngState;
  kl: KlControllerState;
  cursor: PromptCursorState;
  /** SHA-256 of the frozen (non-trained) weights the run started from. */
  frozenWeightsSha256: string;
  /** SHA-256 of the prompt list (order matters: the cursor stores indices). */
  promptsSha256: string;
}

export interface PpoCheckpoint {
  tensors: StateTensor[];
  state: PpoTrainerState;
}

/** A named variable of the policy. */
export interface NamedVariable {
  name: string;
  variable: tf.Variable;
}

const weightKey = (name: string) => `weights/${name}`;
const adamMKey = (name: string) => `adam_m/${name}`;
const adamVKey = (name: string) => `adam_v/${name}`;

/** SHA-256 over the variables' names, shapes and float32 bytes, in the given order. */
export function fingerprintVariables(vars: readonly NamedVariable[]): string {
  const h = createHash('sha256');
  for (const { name, variable } of vars) {
    h.update(`${name}:${variable.shape.join('x')};`);
    const data = variable.dataSync() as Float32Array;
    h.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return h.digest('hex');
}

export function fingerprintPrompts(prompts: readonly string[]): string {
  return createHash('sha256').update(JSON.stringify(prompts)).digest('hex');
}

/** The tensor list of a checkpoint: weights, then first and second moments, per variable. */
export function stateTensors(trainable: readonly NamedVariable[], adam: AdamState): StateTensor[] {
  const copy = (t: tf.Tensor) => Float32Array.from(t.dataSync() as Float32Array);
  return [
    ...trainable.map(({ name, variable }) => ({ name: weightKey(name), shape: [...variable.shape], data: copy(variable) })),
    ...trainable.map(({ name, variable }, i) => ({ name: adamMKey(name), shape: [...variable.shape], data: adam.m[i] })),
    ...trainable.map(({ name, variable }, i) => ({ name: adamVKey(name), shape: [...variable.shape], data: adam.v[i] })),
  ];
}

function tensorByName(tensors: readonly StateTensor[], name: string, size: number): Float32Array {
  const t = tensors.find((x) => x.name === name);
  if (t === undefined) throw new PpoStateError(`checkpoint has no tensor '${name}'`, 'tensors');
  if (t.data.length !== size) {
    throw new PpoStateError(`checkpoint tensor '${name}' has ${t.data.length} values, the variable has ${size}`, 'tensors');
  }
  return t.data;
}

/**
 * Narrows a checkpoint's JSON state (as read back from disk) to a PPO trainer state;
 * throws PpoStateError naming the first missing or mistyped field.
 */
export function parsePpoState(state: unknown): PpoTrainerState {
  const s = state as Partial<PpoTrainerState> | null;
  if (s === null || typeof s !== 'object') throw new PpoStateError('checkpoint state is not an object', 'state');
  if (s.format !== PPO_STATE_FORMAT) {
    throw new PpoStateError(`unknown PPO checkpoint format '${String(s.format)}' (expected ${PPO_STATE_FORMAT})`, 'format');
  }
  const checks: [keyof PpoTrainerState, boolean][] = [
    ['seed', Number.isInteger(s.seed)],
    ['updatesDone', Number.isInteger(s.updatesDone) && (s.updatesDone as number) >= 0],
    ['variableNames', Array.isArray(s.variableNames)],
    ['adam', typeof s.adam === 'object' && s.adam !== null && Number.isInteger(s.adam.step)],
    ['rng', typeof s.rng === 'object' && s.rng !== null && Array.isArray(s.rng.s)],
    ['kl', typeof s.kl === 'object' && s.kl !== null && typeof s.kl.value === 'number'],
    ['cursor', typeof s.cursor === 'object' && s.cursor !== null && Array.isArray(s.cursor.order)],
    ['frozenWeightsSha256', typeof s.frozenWeightsSha256 === 'string'],
    ['promptsSha256', typeof s.promptsSha256 === 'string'],
  ];
  const bad = checks.find(([, ok]) => !ok);
  if (bad) throw new PpoStateError(`checkpoint state field '${bad[0]}' is missing or malformed`, bad[0]);
  return s as PpoTrainerState;
}

/** Checks the checkpoint was written for this model and prompt list; throws PpoStateError otherwise. */
export function checkCompatible(
  state: PpoTrainerState,
  trainable: readonly NamedVariable[],
  frozenWeightsSha256: string,
  promptsSha256: string,
): void {
  const names = trainable.map((v) => v.name);
  if (state.variableNames.length !== names.length || state.variableNames.some((n, i) => n !== names[i])) {
    throw new PpoStateError('checkpoint trainable variables differ from the policy; resume with the same model config', 'variableNames');
  }
  if (state.frozenWeightsSha256 !== frozenWeightsSha256) {
    throw new PpoStateError('frozen policy weights differ from the run that wrote the checkpoint; resume from the same SFT policy', 'frozenWeights');
  }
  if (state.promptsSha256 !== promptsSha256) {
    throw new PpoStateError('prompt list differs from the run that wrote the checkpoint; resume with the same prompts', 'prompts');
  }
}

/** Assigns the checkpointed trainable weights and returns the full Adam state. */
export function applyStateTensors(
  tensors: readonly StateTensor[],
  state: PpoTrainerState,
  trainable: readonly NamedVariable[],
): AdamState {
  tf.tidy(() => {
    for (const { name, variable } of trainable) {
      variable.assign(tf.tensor(tensorByName(tensors, weightKey(name), variable.size), variable.shape, 'float32'));
    }
  });
  return {
    ...state.adam,
    m: trainable.map(({ name, variable }) => tensorByName(tensors, adamMKey(name), variable.size)),
    v: trainable.map(({ name, variable }) => tensorByName(tensors, adamVKey(name), variable.size)),
  };
}
