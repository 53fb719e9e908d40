import { mkdtempSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { explainAwsSetup } from '../../infra/ops/aws-setup.ts';
import { runCommand } from '../support/local-mode.ts';

/**
 * What a new user sees when a command cannot start: the tools run as `npm run` runs them, in a process of
 * their own, on a machine with no AWS setup (no ~/.aws, no AWS_* variables, no instance metadata). Each
 * prints what is wrong and how to give it, on its own, with no stack trace, and exits 1.
 */

const home = mkdtempSync(join(tmpdir(), 'cli-messages-'));
/** A machine with no AWS setup: nothing of the developer's own environment leaks in. */
const bareEnv: NodeJS.ProcessEnv = {
  PATH: process.env.PATH,
  HOME: home,
  NODE_NO_WARNINGS: '1',
  AWS_CONFIG_FILE: join(home, 'no-config'),
  AWS_SHARED_CREDENTIALS_FILE: join(home, 'no-credentials'),
  AWS_EC2_METADATA_DISABLED: 'true',
};

const tool = (script: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  runCommand(process.execPath, ['--no-warnings', '--import', 'tsx', script, ...args], { ...bareEnv, ...env });

/** Node prints a stack trace as lines starting `    at `, and the source line with a caret. */
const STACK_TRACE = /^\s+at |^\s*\^\s*$|Node\.js v\d/m;

describe('the CDK app (npx cdk synth) with a bad context value', () => {
  // The CDK CLI passes context to the app in CDK_CONTEXT_JSON; cdk.json's is laid over by -c.
  const synth = (context: object) =>
    tool('infra/app.ts', [], {
      CDK_CONTEXT_JSON: JSON.stringify(context),
      CDK_OUTDIR: mkdtempSync(join(tmpdir(), 'cdk-out-')),
    });

  it('prints the key and its problem alone, and exits 1', async () => {
    const { code, output } = await synth({ cronofy: { dataCenter: 'mars' } });
    expect(output).toBe(
      'Invalid configuration in cdk.json context:\n  cronofy.dataCenter: must be one of us, uk, de, au, ca, sg\n',
    );
    expect(code).toBe(1);
  });

  it('does the same for a deployment-only key (-c stage=…)', async () => {
    const { code, output } = await synth({ cronofy: { dataCenter: 'us' }, stage: '9lives' });
    expect(output).toMatch(/^Invalid configuration in cdk\.json context:\n {2}stage: must be a letter/);
    expect(output).not.toMatch(STACK_TRACE);
    expect(code).toBe(1);
  });
});

describe.each([
  ['ops', 'infra/ops/cli.ts', ['list', '--stage', 'dev']],
  ['ops reconcile', 'infra/ops/cli.ts', ['reconcile', '--stage', 'dev']],
  ['smoke', 'infra/ops/smoke.ts', ['--stage', 'dev']],
])('npm run %s against a stage, on a machine without AWS setup', (_name, script, args) => {
  it('names the missing region and the ways to give it', async () => {
    const { code, output } = await tool(script, args);
    expect(output).toContain('No AWS region');
    expect(output).toContain('--region');
    expect(output).toContain('AWS_REGION');
    expect(output).toContain('AWS_PROFILE');
    expect(output).not.toContain('Region is missing');
    expect(output).not.toMatch(STACK_TRACE);
    expect(code).toBe(1);
  });

  it('names the missing credentials and the ways to give them', async () => {
    const { code, output } = await tool(script, args, { AWS_REGION: 'eu-west-1' });
    expect(output).toContain('No AWS credentials found');
    expect(output).toContain('AWS_PROFILE');
    expect(output).not.toContain('CredentialsProviderError');
    expect(output).not.toMatch(STACK_TRACE);
    expect(code).toBe(1);
  });

  it('names the profile that gave none', async () => {
    const { code, output } = await tool(script, args, {
      AWS_REGION: 'eu-west-1',
      AWS_PROFILE: 'no-such-profile',
    });
    expect(output).toContain('No AWS credentials from the profile "no-such-profile" (AWS_PROFILE)');
    expect(output).not.toMatch(STACK_TRACE);
    expect(code).toBe(1);
  });

  it('says AWS cannot be reached when the network does not get there', async () => {
    const { code, output } = await tool(script, args, {
      AWS_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_MAX_ATTEMPTS: '1',
      // A name no DNS resolves (RFC 2606), as with no network at all.
      AWS_ENDPOINT_URL: 'https://aws.invalid',
    });
    expect(output).toMatch(/^AWS cannot be reached \(getaddrinfo (ENOTFOUND|EAI_AGAIN) aws\.invalid\)/);
    expect(output).toContain('proxy');
    expect(output).toContain('--region');
    expect(output).not.toMatch(STACK_TRACE);
    expect(code).toBe(1);
  });
});

describe('explainAwsSetup', () => {
  it('leaves every other error to its own words', () => {
    expect(explainAwsSetup(new Error('Requested resource not found'), {})).toBeUndefined();
    expect(explainAwsSetup('Region is missing', {})).toBeUndefined();
  });

  it('says expired credentials are expired', () => {
    const error = Object.assign(new Error('The security token included in the request is expired'), {
      name: 'ExpiredTokenException',
    });
    expect(explainAwsSetup(error, {})).toMatch(/^Your AWS credentials have expired/);
  });
});

describe('npm run bench on a machine without Java', () => {
  it('says Java is missing and how to install it, before it starts', async () => {
    // A PATH with node alone: no java.
    const bin = mkdtempSync(join(tmpdir(), 'no-java-'));
    symlinkSync(process.execPath, join(bin, 'node'));
    const { code, output } = await tool('test/bench/run.ts', [], { PATH: bin });
    expect(output).toMatch(/^Local mode \(and npm run bench\) runs DynamoDB Local, which needs Java 17/);
    expect(output).toContain('sudo apt-get install openjdk-17-jre-headless');
    expect(output).not.toMatch(STACK_TRACE);
    expect(code).toBe(1);
  });
});
