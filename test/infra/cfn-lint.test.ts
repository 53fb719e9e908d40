import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../infra/app.ts';
import { CRONOFY_CONTEXT, FEATURE_FLAGS, NO_BUNDLING } from './cdk-context.ts';

/**
 * Every template the app synthesizes passes cfn-lint (AWS's CloudFormation linter: resource schemas, property
 * values, best practices), apart from W3005: an explicit DependsOn that a GetAtt already implies, which the
 * CDK writes for every function's role (its policy must exist before the function).
 */

const ALLOWED = new Set(['W3005']);
const INSTALL_HINT = 'cfn-lint is not installed (or not on PATH). Install it with: pip install cfn-lint';

const outdir = mkdtempSync(join(tmpdir(), 'cfn-lint-'));
afterAll(() => rmSync(outdir, { recursive: true, force: true }));

/** The variants a deploy can produce: the default stage, another stage with alarm emails, an existing secret. */
const VARIANTS: Record<string, Record<string, unknown>> = {
  default: { cronofy: CRONOFY_CONTEXT },
  'prod-with-alarm-emails': {
    stage: 'prod',
    cronofy: { ...CRONOFY_CONTEXT, alarmEmails: ['oncall@example.com'] },
  },
  'existing-secret': {
    stage: 'shared',
    cronofy: {
      ...CRONOFY_CONTEXT,
      secretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:cronofy-AbCdEf',
    },
  },
};

function synthesize(name: string, context: Record<string, unknown>): string[] {
  const dir = join(outdir, name);
  createApp({ outdir: dir, context: { ...FEATURE_FLAGS, ...NO_BUNDLING, ...context } }).synth();
  return readdirSync(dir)
    .filter((file) => file.endsWith('.template.json'))
    .map((file) => join(dir, file));
}

interface Finding {
  Rule: { Id: string };
  Message: string;
  Filename: string;
  Location: { Path: Array<string | number> };
}

function cfnLint(templates: string[], env: NodeJS.ProcessEnv = process.env): Finding[] {
  const result = spawnSync('cfn-lint', ['--format', 'json', '--', ...templates], { encoding: 'utf8', env });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') throw new Error(INSTALL_HINT);
  if (result.error) throw result.error;
  // Exit codes are a bit mask of error (2), warning (4) and informational (8) findings; 1 is a crash.
  if (result.status === 1 || result.status === null) {
    throw new Error(`cfn-lint failed to run (exit ${result.status}):\n${result.stderr}`);
  }
  return JSON.parse(result.stdout || '[]') as Finding[];
}

/**
 * On a developer's machine without cfn-lint the lint tests are skipped with a loud warning, so `npm test`
 * works on a fresh clone; in CI (`CI=true`) a missing cfn-lint fails them with the install command.
 */
const installed = spawnSync('cfn-lint', ['--version']).error === undefined;
const lintable = installed || Boolean(process.env.CI);
// Written past vitest's console capture: npm test shows logs of failed tests only, and this must be seen.
if (!lintable) process.stderr.write(`\n⚠ SKIPPED the cfn-lint tests: ${INSTALL_HINT}\n\n`);

describe.runIf(lintable)('cfn-lint', () => {
  // Starting cfn-lint (loading its resource schemas) is most of its time: one run lints every template,
  // the deliberately broken one included, and each test reads the findings for its own files.
  const templates: Record<string, string[]> = {};
  const broken = join(outdir, 'broken.template.json');
  let findings: Finding[] = [];
  beforeAll(() => {
    for (const [name, context] of Object.entries(VARIANTS)) templates[name] = synthesize(name, context);
    const json = JSON.parse(readFileSync(templates.default?.[0] as string, 'utf8'));
    json.Resources.Broken = { Type: 'AWS::SQS::Queue', Properties: { VisibilityTimeout: 'soon' } };
    writeFileSync(broken, JSON.stringify(json));
    findings = cfnLint([...Object.values(templates).flat(), broken]);
  });
  const findingsIn = (files: string[]) =>
    findings.filter((finding) => files.some((file) => resolve(file) === resolve(finding.Filename)));

  it.each(Object.keys(VARIANTS))('finds nothing but W3005 in the %s template', (name) => {
    const files = templates[name] ?? [];
    expect(files.length).toBeGreaterThan(0);
    const found = findingsIn(files)
      .filter((finding) => !ALLOWED.has(finding.Rule.Id))
      .map((f) => `${f.Rule.Id} ${f.Location.Path.join('/')}: ${f.Message}`);
    expect(found).toEqual([]);
  });

  it('reports a finding when there is one (the check is live)', () => {
    expect(findingsIn([broken]).map((f) => f.Rule.Id)).toEqual(
      expect.arrayContaining([expect.stringMatching(/^E/)]),
    );
  });
});

describe('cfn-lint missing', () => {
  it('fails with the install command, rather than passing silently', () => {
    expect(() => cfnLint([], { ...process.env, PATH: '/nonexistent' })).toThrow('pip install cfn-lint');
  });
});
