// One seed of the support-task learning test (support-run.ts); one file per seed so jest runs them side by side.
import { describeSupportLearning } from './support-run';

describeSupportLearning(12);
