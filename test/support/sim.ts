import { run } from '../sim/cli.ts';

/** `npm run sim -- …` in this process, as a user's terminal would run it with `env`: its exit code and output. */
export async function runSim(
  argv: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await run(argv, {
    stdout: (text) => {
      stdout += `${text}\n`;
    },
    stderr: {
      isTTY: false,
      write: (text: string) => {
        stderr += text;
      },
    },
    env,
  });
  return { code, stdout, stderr };
}
