/**
 * The training workflow's query and signal definitions. Their argument and answer shapes are
 * the run contract (contract/run-contract.ts); the API imports these constants and never
 * spells a message name itself.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';
import type { RunProgress, SetKlArgs } from '../contract/run-contract';

export const progressQuery = defineQuery<RunProgress>('progress');
export const pauseSignal = defineSignal('pause');
export const resumeSignal = defineSignal('resume');
export const setKlSignal = defineSignal<[SetKlArgs]>('setKl');
