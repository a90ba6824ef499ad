/**
 * KL-coefficient controllers for the KL-penalised PPO reward (β in r_t = −β·kl_t + score).
 *
 * Adaptive: Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences",
 * §2.2, exactly as TRL 0.7's `AdaptiveKLController`:
 *   e = clip(KL / target − 1, −0.2, 0.2),   β ← β · (1 + e · nSteps / horizon),
 * where KL is the mean summed per-sequence KL of the last batch and nSteps the number of
 * samples it covered. Fixed: β never changes (TRL's `FixedKLController`).
 *
 * Both carry their whole state as plain JSON so a checkpoint can restore β exactly, and
 * both accept `setValue`/`setTarget` so an operator can change them mid-run.
 */
import { effectiveKlHorizon, type PpoConfig } from '../spec/run-config';

/** Serialisable controller state; `kind` says which controller it belongs to. */
export interface KlControllerState {
  kind: 'adaptive' | 'fixed';
  /** Current coefficient β. */
  value: number;
  /** Target KL per sequence (used by the adaptive controller only). */
  target: number;
  /** Horizon in samples (used by the adaptive controller only). */
  horizon: number;
}

export interface KlController {
  readonly kind: KlControllerState['kind'];
  /** Current coefficient β. */
  readonly value: number;
  readonly target: number;
  /** Feed the last batch's mean per-sequence KL and its number of samples. */
  update(currentKl: number, nSteps: number): void;
  setValue(value: number): void;
  /** Change the target; the fixed controller stores it but never uses it. */
  setTarget(target: number): void;
  getState(): KlControllerState;
  setState(state: KlControllerState): void;
}

/** Largest relative error the adaptive controller reacts to (Ziegler et al. 2019). */
const PROPORTIONAL_ERROR_CLIP = 0.2;

function requireFinite(name: string, x: number, min: number, inclusive: boolean): void {
  const ok = Number.isFinite(x) && (inclusive ? x >= min : x > min);
  if (!ok) throw new RangeError(`${name} must be a finite number ${inclusive ? '≥' : '>'} ${min}, got ${x}`);
}

abstract class BaseKlController implements KlController {
  abstract readonly kind: KlControllerState['kind'];
  protected beta: number;
  protected klTarget: number;
  protected readonly horizon: number;

  constructor(value: number, target: number, horizon: number) {
    requireFinite('KL coefficient', value, 0, true);
    requireFinite('KL target', target, 0, false);
    requireFinite('KL horizon', horizon, 0, false);
    this.beta = value;
    this.klTarget = target;
    this.horizon = horizon;
  }

  get value(): number {
    return this.beta;
  }

  get target(): number {
    return this.klTarget;
  }

  abstract update(currentKl: number, nSteps: number): void;

  setValue(value: number): void {
    requireFinite('KL coefficient', value, 0, true);
    this.beta = value;
  }

  setTarget(target: number): void {
    requireFinite('KL target', target, 0, false);
    this.klTarget = target;
  }

  getState(): KlControllerState {
    return { kind: this.kind, value: this.beta, target: this.klTarget, horizon: this.horizon };
  }

  setState(state: KlControllerState): void {
    if (state.kind !== this.kind) {
      throw new TypeError(`cannot restore a '${state.kind}' KL controller state into a '${this.kind}' controller`);
    }
    if (state.horizon !== this.horizon) {
      throw new RangeError(`KL controller horizon differs: state has ${state.horizon}, controller has ${this.horizon}`);
    }
    this.setValue(state.value);
    this.setTarget(state.target);
  }
}

/** β adapts so the observed KL tracks the target (Ziegler et al. 2019; TRL 0.7). */
export class AdaptiveKlController extends BaseKlController {
  readonly kind = 'adaptive' as const;

  update(currentKl: number, nSteps: number): void {
    // A NaN KL would poison β for the rest of the run; the trainer's guardrails handle it.
    if (!Number.isFinite(currentKl)) throw new RangeError(`KL controller update needs a finite KL, got ${currentKl}`);
    requireFinite('nSteps', nSteps, 0, true);
    const error = Math.min(PROPORTIONAL_ERROR_CLIP, Math.max(-PROPORTIONAL_ERROR_CLIP, currentKl / this.klTarget - 1));
    this.beta *= 1 + (error * nSteps) / this.horizon;
  }
}

/** β stays where it is set (TRL's FixedKLController). */
export class FixedKlController extends BaseKlController {
  readonly kind = 'fixed' as const;

  update(currentKl: number, nSteps: number): void {
    if (!Number.isFinite(currentKl)) throw new RangeError(`KL controller update needs a finite KL, got ${currentKl}`);
    requireFinite('nSteps', nSteps, 0, true);
  }
}

/** The controller a PPO config asks for, starting at `initKlCoef`. */
export function createKlController(
  ppo: Pick<PpoConfig, 'adaptiveKl' | 'initKlCoef' | 'klTarget' | 'klHorizon' | 'batchSize' | 'totalUpdates'>,
): KlController {
  const horizon = effectiveKlHorizon(ppo);
  return ppo.adaptiveKl
    ? new AdaptiveKlController(ppo.initKlCoef, ppo.klTarget, horizon)
    : new FixedKlController(ppo.initKlCoef, ppo.klTarget, horizon);
}

/** A controller rebuilt from a checkpointed state. */
export function restoreKlController(state: KlControllerState): KlController {
  const ctl =
    state.kind === 'adaptive'
      ? new AdaptiveKlController(state.value, state.target, state.horizon)
      : new FixedKlController(state.value, state.target, state.horizon);
  ctl.setState(state);
  return ctl;
}
