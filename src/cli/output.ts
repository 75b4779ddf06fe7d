/**
 * Where a command writes what the user reads. main.ts gives the process's own streams; tests run
 * the CLI in-process (src/cli/dispatch.ts) with a capture, so that an admin command costs a
 * request, not a Node start.
 */
export interface CliOutput {
  stdout(text: string): void;
  stderr(text: string): void;
}

export const processOutput: CliOutput = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};
