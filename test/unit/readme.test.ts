import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TTL_ATTRIBUTE } from '#shared/contract/keys.ts';
import { NOTIFICATION_STATUSES } from '../../infra/ops/operations.ts';

/** What the README tells a new user matches what the tools do. */

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
const commands = [...readme.matchAll(/```bash\n([\s\S]*?)```/g)].map((block) => block[1] ?? '').join('\n');

describe('README', () => {
  it('stays under 450 lines', () => {
    expect(readme.split('\n').length).toBeLessThan(450);
  });

  it("gives local mode's curl examples the ports a user started it on, not fixed ones", () => {
    // npm start takes PORT and CRONOFY_API_PORT; an example with 3000 written out fails on any other port.
    expect(commands.match(/127\.0\.0\.1:\d+/g) ?? []).toEqual([]);
    // A shell expansion in the README, not a template placeholder here.
    const shell = (variable: string, port: number) => `http://127.0.0.1:$\{${variable}:-${port}}/`;
    expect(commands).toContain(shell('PORT', 3000));
    expect(commands).toContain(shell('CRONOFY_API_PORT', 3100));
  });

  it("prints no redirect URL in the onboarding example: the callback's URL carries the OAuth code and state", () => {
    expect(commands).toContain('connect_url');
    expect(commands).not.toContain('url_effective');
  });

  it('lists every status `ops list --status` accepts, and only those', () => {
    const line = commands.split('\n').find((text) => text.startsWith('npm run ops -- list')) ?? '';
    const listed = /# S: ([a-z_, ]+);/.exec(line)?.[1]?.split(', ');
    expect(listed).toEqual([...NOTIFICATION_STATUSES]);
  });

  it('says which time is not ISO 8601: the TTL attribute, in epoch seconds', () => {
    expect(readme).toMatch(
      new RegExp(`Times are UTC ISO 8601 strings, except \`${TTL_ATTRIBUTE}\`[^.]*epoch seconds`),
    );
  });

  it('explains the test npm test skips, and how to run it', () => {
    const duplicates = readFileSync(new URL('../reliability/duplicates.test.ts', import.meta.url), 'utf8');
    const variable = /const HEAVY = process\.env\.([A-Z_]+) === '1'/.exec(duplicates)?.[1];
    expect(duplicates).toContain('it.runIf(HEAVY)');
    expect(readme).toContain(`One\ntest is skipped by design`);
    expect(readme).toContain(`\`${variable}=1 npm test\` runs it`);
  });

  it('links only to files and headings that exist, in every README of the project', () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const skip = new Set(['node_modules', 'cdk.out', '.git', '.test-results']);
    const walk = (dir: string): string[] =>
      readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
        const path = dir ? `${dir}/${entry.name}` : entry.name;
        if (entry.isDirectory()) return skip.has(entry.name) ? [] : walk(path);
        return entry.name.endsWith('.md') ? [path] : [];
      });
    const docs = walk('');
    // GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens.
    const anchors = (file: string) =>
      [...readFileSync(file, 'utf8').matchAll(/^#+\s+(.+)$/gm)].map((m) =>
        (m[1] ?? '')
          .trim()
          .toLowerCase()
          .replace(/[^\p{L}\p{N}_\- ]/gu, '')
          .replace(/ /g, '-'),
      );
    const broken: string[] = [];
    for (const doc of docs) {
      const file = join(root, doc);
      const text = readFileSync(file, 'utf8').replace(/```[\s\S]*?```/g, '');
      for (const [, target = ''] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [path = '', anchor] = target.split('#');
        const linked = path ? join(dirname(file), path) : file;
        if (!existsSync(linked)) broken.push(`${doc}: ${target} (no such file)`);
        else if (anchor && linked.endsWith('.md') && !anchors(linked).includes(anchor))
          broken.push(`${doc}: ${target} (no such heading in ${relative(root, linked)})`);
      }
    }
    expect(docs).toContain('README.md');
    expect(broken).toEqual([]);
  });
});
