import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { placeByHints, type HostHints } from './host-hints.js';

const HOSTS = [{ name: 'h1' }, { name: 'h2' }, { name: 'h3' }];

describe('placeByHints', () => {
  const cases: { hints: HostHints; hosts: string[] | RegExp }[] = [
    { hints: {}, hosts: ['h1', 'h2', 'h3'] },
    { hints: { sameHost: new Set(['h2']) }, hosts: ['h2'] },
    { hints: { sameHost: new Set(['h3', 'h1']) }, hosts: ['h1', 'h3'] },
    { hints: { sameHost: new Set() }, hosts: /same_host asks for .*\(none is placed\)/u },
    {
      hints: { sameHost: new Set(['h9']) },
      hosts: /same_host asks for the host of the named servers \(h9\)/u,
    },
    { hints: { differentHost: new Set(['h1']) }, hosts: ['h2', 'h3'] },
    {
      hints: { differentHost: new Set(['h1', 'h2', 'h3']) },
      hosts: /different_host rules out every host .*\(h1, h2, h3\)/u,
    },
    { hints: { sameHost: new Set(['h1', 'h2']), differentHost: new Set(['h1']) }, hosts: ['h2'] },
  ];
  for (const t of cases) {
    const same = t.hints.sameHost && [...t.hints.sameHost];
    const different = t.hints.differentHost && [...t.hints.differentHost];
    it(JSON.stringify({ same, different }), () => {
      const result = placeByHints(HOSTS, t.hints);
      if (t.hosts instanceof RegExp) {
        assert.ok(!result.ok, 'refused');
        const [issue] = result.issues;
        assert.equal(issue.code, 'scheduler.no_valid_host');
        assert.match(issue.message, t.hosts);
      } else {
        assert.deepEqual(result.ok && result.value.map((h) => h.name), t.hosts);
      }
    });
  }
});
