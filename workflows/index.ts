/** Workflow entry point bundled by the workers (`workflowsPath`): every workflow function. */
export { trainPolicyWorkflow } from './training-run';
export { scheduledTrainingWorkflow } from './scheduled-training';
