/**
 * The PPO chunk's guardrail (issue 14): runs each update through ml/ppo-health's check and, on a
 * trip, tells the chunk to go back to the last healthy checkpoint with a remedy applied.
 *
 * Only updates that pass the check are checkpointed, so every checkpoint of a guarded run is
 * healthy, and its guard state (`runArtifacts.guard`, written just before it: healthy, trips,
 * remedies, events) says so. Everything the guard decides from is on disk at a checkpoint: the
 * check's history is the metrics files of the updates before it (written only for updates that
 * passed), the remedies and the trip count are in its guard state, and a raised β is in the
 * checkpoint's KL controller. So a retried attempt that resumes from any checkpoint takes the
 * same decisions, and a run that rolled back resumes bit-exactly.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { UpdateMetrics } from '../common/names';
import { GuardRemedies, type GuardConfig, type RunConfig } from '../spec/run-config';
import { tf } from '../ml/tf';
import { checkHealth, historyWindow, TripConditions, type HealthTrip } from '../ml/ppo-health';
import type { PpoTrainer, TrainerRemedies } from '../ml/ppo-trainer';
import type { ArtifactStore } from '../storage/artifact-store';
import { MAX_GUARDRAIL_EVENTS_SHOWN, TrainingFailureTypes, type CheckpointInfo, type GuardrailEvent, type GuardrailSummary } from '../contract/run-contract';
import { runArtifacts } from '../storage/artifact-keys';

/** What `runArtifacts.guard` holds. */
export interface GuardState {
  healthy: boolean;
  trips: number;
  remedies: TrainerRemedies;
  events: GuardrailEvent[];
}

const INITIAL_STATE: GuardState = { healthy: true, trips: 0, remedies: { learningRateScale: 1, temperature: null }, events: [] };

/** One guarded update: its metrics (null when it produced a non-finite one) and the trip, if any. */
export interface GuardedStep {
  update: number;
  metrics: UpdateMetrics | null;
  trip: HealthTrip | null;
}

/** True when every element of every variable is finite. */
export function variablesFinite(vars: readonly tf.Variable[]): boolean {
  return vars.every((v) => tf.tidy(() => tf.all(tf.isFinite(v)).dataSync()[0] === 1));
}

export class PpoGuard {
  private history: UpdateMetrics[] = [];
  private baseline: UpdateMetrics | null = null;

  private constructor(
    private readonly store: ArtifactStore,
    private readonly runId: string,
    private readonly cfg: GuardConfig,
    private readonly temperature: number,
    private readonly batchSize: number,
    private state: GuardState,
  ) {}

  /** The guard as it stood at `start` (its guard state and the metrics before it). */
  static async open(store: ArtifactStore, runId: string, config: RunConfig, start: CheckpointInfo | null): Promise<PpoGuard> {
    const key = start ? runArtifacts.guard(runId, start.update) : null;
    const state = key && (await store.exists(key)) ? await store.readJson<GuardState>(key) : structuredClone(INITIAL_STATE);
    const guard = new PpoGuard(store, runId, config.guard, config.ppo.generation.temperature, config.ppo.batchSize, state);
    await guard.loadHistory(start?.update ?? 0);
    return guard;
  }

  get remedies(): TrainerRemedies {
    return { ...this.state.remedies };
  }

  /** Trips so far and their events; null while there are none. */
  get summary(): GuardrailSummary | null {
    return this.state.trips === 0 ? null : { trips: this.state.trips, events: this.state.events };
  }

  /** Reads the check's history: the starting policy's update (1) and the window before `update`. */
  private async loadHistory(update: number): Promise<void> {
    const read = async (u: number) => this.store.readJson<UpdateMetrics>(runArtifacts.metrics(this.runId, u));
    this.baseline = update >= 1 ? await read(1) : null;
    const from = Math.max(1, update - historyWindow(this.cfg) + 1);
    this.history = [];
    for (let u = from; u <= update; u++) this.history.push(await read(u));
  }

  /** One update of `trainer`, checked. A non-finite metric is a trip, not an error. */
  async step(trainer: PpoTrainer, klTarget: number): Promise<GuardedStep> {
    const update = trainer.updatesDone + 1;
    let metrics: UpdateMetrics;
    try {
      metrics = await trainer.step();
    } catch (err) {
      if ((err as Error | null)?.name !== 'NonFiniteMetricError') throw err;
      const { key, value } = err as Error & { key: string; value: number };
      return { update, metrics: null, trip: { condition: TripConditions.nonFinite, message: `${TripConditions.nonFinite}: metric ${key} is ${value}`, values: { [key]: value } } };
    }
    this.injectFaults(update, metrics, trainer);
    const trip = checkHealth(
      { metrics, weightsFinite: variablesFinite(trainer.trainableVariables) },
      { klTarget, batchSize: this.batchSize, baseline: this.baseline, previous: this.history },
      this.cfg,
    );
    return { update, metrics, trip };
  }

  /** Test hook: the config's faults for this update, while the run has tripped fewer times than each allows. */
  private injectFaults(update: number, metrics: UpdateMetrics, trainer: PpoTrainer): void {
    for (const fault of this.cfg.faults) {
      if (fault.atUpdate !== update || this.state.trips >= fault.whileTripsBelow) continue;
      if (fault.metric !== undefined && fault.value !== undefined) (metrics as Record<string, number>)[fault.metric] = fault.value;
      if (fault.nanWeight) {
        const v = trainer.trainableVariables[0];
        v.assign(tf.fill(v.shape, Number.NaN));
      }
    }
  }

  /** Takes a healthy update into the history (the first one is the starting policy's baseline). */
  accept(update: number, metrics: UpdateMetrics): void {
    if (update === 1) this.baseline = metrics;
    this.history.push(metrics);
    const keep = historyWindow(this.cfg);
    this.history = keep === 0 ? [] : this.history.slice(-keep);
  }

  /** Writes the guard state of checkpoint `update`; call just before writing the checkpoint. */
  async writeState(update: number): Promise<void> {
    await this.store.writeJson(runArtifacts.guard(this.runId, update), this.state);
  }

  /**
   * Records a trip. At `maxTrips` the run fails with a non-retryable GuardrailTripped naming it;
   * otherwise returns the remedies to apply once the trainer is back at `to`.
   */
  trip(step: GuardedStep & { trip: HealthTrip }, to: CheckpointInfo | null, klCoef: number): TrainerRemedies {
    const trips = this.state.trips + 1;
    if (trips >= this.cfg.maxTrips) {
      // The run's last trip: no rollback, no remedy; recorded with the settings it tripped under.
      const last = this.eventOf(step, trips, to, { kind: 'fail_run', ...this.settings(this.state.remedies, klCoef) });
      throw ApplicationFailure.create({
        type: TrainingFailureTypes.guardrailTripped,
        nonRetryable: true,
        message: `PPO guardrail tripped ${trips} times (guard.maxTrips ${this.cfg.maxTrips}); last at update ${step.update}: ${step.trip.message}`,
        details: [{ trips, events: [...this.state.events, last].slice(-MAX_GUARDRAIL_EVENTS_SHOWN) }],
      });
    }
    const remedies = { ...this.state.remedies };
    if (this.cfg.remedy === GuardRemedies.halveLearningRate) remedies.learningRateScale *= 0.5;
    if (this.cfg.remedy === GuardRemedies.lowerTemperature) remedies.temperature = (remedies.temperature ?? this.temperature) * this.cfg.temperatureFactor;
    this.pending = { step, to, trips };
    return remedies;
  }

  private settings(remedies: TrainerRemedies, klCoef: number): Omit<GuardrailEvent['remedy'], 'kind'> {
    return { learningRateScale: remedies.learningRateScale, temperature: remedies.temperature ?? this.temperature, klCoef };
  }

  private eventOf(step: GuardedStep & { trip: HealthTrip }, trip: number, to: CheckpointInfo | null, remedy: GuardrailEvent['remedy']): GuardrailEvent {
    return {
      kind: 'guardrail',
      trip,
      update: step.update,
      condition: step.trip.condition,
      message: step.trip.message,
      values: step.trip.values,
      rolledBackTo: { update: to?.update ?? 0, ref: to?.ref ?? null },
      remedy,
    };
  }

  private pending: { step: GuardedStep & { trip: HealthTrip }; to: CheckpointInfo | null; trips: number } | null = null;

  /**
   * Applies the remedy to `trainer` (restored at the rollback point), records the event, and
   * reloads the check's history from there. Returns the event.
   */
  async resume(trainer: PpoTrainer, remedies: TrainerRemedies): Promise<GuardrailEvent> {
    const pending = this.pending;
    if (!pending) throw new Error('PpoGuard.resume without a trip');
    this.pending = null;
    trainer.setRemedies(remedies);
    if (this.cfg.remedy === GuardRemedies.raiseKlCoef) trainer.setKl({ coef: trainer.klCoef * this.cfg.klRaiseFactor });
    const event = this.eventOf(pending.step, pending.trips, pending.to, { kind: this.cfg.remedy, ...this.settings(remedies, trainer.klCoef) });
    this.state = { healthy: true, trips: pending.trips, remedies, events: [...this.state.events, event].slice(-MAX_GUARDRAIL_EVENTS_SHOWN) };
    await this.loadHistory(pending.to?.update ?? 0);
    return event;
  }
}
