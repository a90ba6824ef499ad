/**
 * The `rlhf` command line (commander): builds the program, runs one command line, and maps the outcome to
 * an exit code (cli/errors.ts ExitCodes: 0 ok, 1 failure, 2 usage). `runCli` takes its streams and
 * environment as arguments, so it is the same code whether run by bin/rlhf or by a test.
 */
import { Command, CommanderError } from 'commander';
import { CliContext, CliEnv, DEFAULT_API_URL, type CliIo, type GlobalOptions } from './context';
import { ExitCodes, exitCodeOf, type ExitCode } from './errors';
import { feedbackCommand } from './commands/feedback';
import { keysCommand } from './commands/keys';
import { policiesCommand } from './commands/policies';
import { runsCommand } from './commands/runs';
import { trainCommand } from './commands/train';

const EXIT_CODES_HELP = `
Configuration: ${CliEnv.apiUrl} (default ${DEFAULT_API_URL}) and ${CliEnv.apiKey}, or --api-url/--api-key
(a flag wins; prefer the environment for the key: flags show up in process listings).
Exit codes: 0 ok; 1 the command failed (API error, bad row in a file, run ended failed or cancelled);
2 usage error (unknown command or option, missing argument, bad option value, no API key).`;

export function buildProgram(io: CliIo): Command {
  const program = new Command('rlhf');
  const ctx = new CliContext(io, () => program.opts<GlobalOptions>());
  program
    .description('durable-rlhf from the command line: feedback, training runs, policies, API keys')
    .option('--api-url <url>', `API base URL (env ${CliEnv.apiUrl}, default ${DEFAULT_API_URL})`)
    .option('--api-key <key>', `API key (env ${CliEnv.apiKey})`)
    .option('--json', 'machine-readable JSON on stdout')
    .addHelpText('after', EXIT_CODES_HELP);
  for (const make of [feedbackCommand, trainCommand, runsCommand, policiesCommand, keysCommand]) program.addCommand(make(ctx));
  configureTree(program, io);
  return program;
}

/**
 * On every command (addCommand does not pass settings down): errors are thrown instead of
 * process.exit() so runCli maps them to exit codes, output goes to `io`, and a usage error shows a hint.
 */
function configureTree(command: Command, io: CliIo): void {
  command
    .exitOverride()
    .showHelpAfterError('(add --help for usage)')
    .configureOutput({ writeOut: (s) => io.out.write(s), writeErr: (s) => io.err.write(s) });
  for (const sub of command.commands) configureTree(sub, io);
}

/** Runs one command line (`argv` without node and the script) and returns its exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<ExitCode> {
  const program = buildProgram(io);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return ExitCodes.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0; every other commander error is a usage error.
      return err.exitCode === 0 ? ExitCodes.ok : ExitCodes.usage;
    }
    io.err.write(`rlhf: ${err instanceof Error ? err.message : String(err)}\n`);
    return exitCodeOf(err);
  }
}
