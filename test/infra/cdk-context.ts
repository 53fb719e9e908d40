import { readFileSync } from 'node:fs';

/**
 * The context `cdk synth` and `cdk deploy` see, read from cdk.json: the feature flags and the real `cronofy`
 * object. Tests build the app with it, so they check what a deploy would build.
 */
const cdkJson = JSON.parse(readFileSync(new URL('../../cdk.json', import.meta.url), 'utf8')) as {
  context: Record<string, unknown>;
};

export const { cronofy: CRONOFY_CONTEXT, ...FEATURE_FLAGS } = cdkJson.context as {
  cronofy: Record<string, unknown>;
} & Record<string, unknown>;

/** Skips esbuild for tests that only look at the template (the main suites keep real bundling). */
export const NO_BUNDLING = { 'aws:cdk:bundling-stacks': [] as string[] };
