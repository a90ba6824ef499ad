/**
 * The guardrail record (issue 14) that crosses every layer: written by the PPO chunk
 * (activities/ppo-guard.ts), carried by the workflow, shown by the API and saved in
 * training_results.json. Dependency-free, so workflows and ml/ can both import it.
 */

/**
 * A guardrail trip (issue 14): what tripped at which update, the numbers, the checkpoint the
 * chunk went back to, and the remedy applied before it continued.
 */
export interface GuardrailEvent {
  kind: 'guardrail';
  /** 1 for the run's first trip. */
  trip: number;
  /** The update whose check failed (its weights were discarded). */
  update: number;
  /** ml/ppo-health TripConditions. */
  condition: string;
  message: string;
  /** The numbers that decided it (a NaN/∞ arrives as null: JSON has no such numbers). */
  values: Record<string, number | null>;
  /** The last healthy checkpoint (null ref: the start of PPO, before any checkpoint). */
  rolledBackTo: { update: number; ref: string | null };
  /** spec/run-config GuardRemedies (`fail_run` for the trip that ended the run), and the settings in force after it. */
  remedy: { kind: string; learningRateScale: number; temperature: number; klCoef: number };
}

/** The run's guardrail record: the number of trips so far and the newest events. */
export interface GuardrailSummary {
  trips: number;
  events: GuardrailEvent[];
}
