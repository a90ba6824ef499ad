/** Entry point of the `rlhf` bin (bin/rlhf.cjs runs it through tsx): process streams and environment in, exit code out. */
import { runCli } from './main';

runCli(process.argv.slice(2), { out: process.stdout, err: process.stderr, env: process.env }).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
