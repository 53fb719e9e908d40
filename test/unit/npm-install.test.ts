import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * `npm ci` on a fresh clone prints no warning on the Node versions the README names: no locked package
 * wants a newer Node (npm's EBADENGINE), and every install script is decided in `allowScripts` (npm 11
 * otherwise lists it as "not yet covered by allowScripts"). Read from package-lock.json, so a dependency
 * update that brings either back fails here rather than on a new user's first command.
 */

interface LockEntry {
  version?: string;
  engines?: { node?: string } | string[];
  hasInstallScript?: boolean;
}

const root = new URL('../../', import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as {
  engines: { node: string };
  allowScripts?: Record<string, boolean>;
};
const lock = JSON.parse(readFileSync(new URL('package-lock.json', root), 'utf8')) as {
  packages: Record<string, LockEntry>;
};
// semver is npm's own range grammar (a dependency of aws-cdk-lib's, not ours).
const semver = createRequire(import.meta.url)('semver') as {
  satisfies: (version: string, range: string) => boolean;
};

/** The oldest release of each major line the README says `npm ci` is checked on. */
const TESTED = ['20.19.0', '22.13.0'];

const packageName = (path: string) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length);

describe('npm ci on a fresh clone', () => {
  it('package.json admits the tested Node versions', () => {
    for (const version of TESTED)
      expect(semver.satisfies(version, manifest.engines.node), version).toBe(true);
  });

  it.each(TESTED)('no locked package wants a Node newer than %s (EBADENGINE)', (version) => {
    const refusing = Object.entries(lock.packages)
      .filter(([path]) => path !== '')
      .flatMap(([path, entry]) => {
        const range = !Array.isArray(entry.engines) ? entry.engines?.node : undefined;
        return range && !semver.satisfies(version, range)
          ? [`${packageName(path)}@${entry.version} (${range})`]
          : [];
      });
    expect(refusing).toEqual([]);
  });

  it('every install script is approved or denied in allowScripts', () => {
    const decided = new Set(
      Object.keys(manifest.allowScripts ?? {}).map((key) => key.replace(/(?<=.)@.*$/, '')),
    );
    const undecided = Object.entries(lock.packages)
      .filter(([, entry]) => entry.hasInstallScript)
      .map(([path]) => packageName(path))
      .filter((name) => !decided.has(name));
    expect(undecided).toEqual([]);
  });
});
