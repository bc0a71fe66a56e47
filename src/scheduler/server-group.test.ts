import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { placeInGroup, type GroupConstraint, type GroupPolicy } from './server-group.js';

const HOSTS = [{ name: 'h1' }, { name: 'h2' }, { name: 'h3' }];

function group(
  policy: GroupPolicy,
  members: Record<string, number>,
  maxServerPerHost: number | null = null,
): GroupConstraint {
  return { name: 'g', policy, maxServerPerHost, membersPerHost: new Map(Object.entries(members)) };
}

describe('placeInGroup', () => {
  const cases: {
    policy: GroupPolicy;
    members: Record<string, number>;
    max?: number;
    hosts: string[] | RegExp;
  }[] = [
    { policy: 'affinity', members: {}, hosts: ['h1', 'h2', 'h3'] },
    { policy: 'affinity', members: { h2: 1 }, hosts: ['h2'] },
    {
      policy: 'affinity',
      members: { h9: 1 },
      hosts: /affinity, and the host of its other members \(h9\)/u,
    },
    { policy: 'anti-affinity', members: {}, hosts: ['h1', 'h2', 'h3'] },
    { policy: 'anti-affinity', members: { h1: 1, h3: 1 }, hosts: ['h2'] },
    {
      policy: 'anti-affinity',
      members: { h1: 1, h2: 1, h3: 1 },
      hosts: /already holds 1 of its members/u,
    },
    { policy: 'anti-affinity', members: { h1: 2, h2: 1 }, max: 2, hosts: ['h2', 'h3'] },
    { policy: 'soft-affinity', members: { h3: 2, h2: 1 }, hosts: ['h3', 'h2', 'h1'] },
    { policy: 'soft-anti-affinity', members: { h1: 2, h2: 1 }, hosts: ['h3', 'h2', 'h1'] },
    { policy: 'soft-anti-affinity', members: { h1: 1, h2: 1, h3: 1 }, hosts: ['h1', 'h2', 'h3'] },
  ];
  for (const t of cases) {
    it(`${t.policy} with members ${JSON.stringify(t.members)}${t.max ? ` (max ${t.max})` : ''}`, () => {
      const result = placeInGroup(HOSTS, group(t.policy, t.members, t.max ?? null));
      if (t.hosts instanceof RegExp) {
        assert.ok(!result.ok, 'refused');
        const [issue] = result.issues;
        assert.equal(issue.code, 'scheduler.no_valid_host');
        assert.match(issue.message, /^No valid host was found\. Server group 'g'/u);
        assert.match(issue.message, t.hosts);
      } else {
        assert.deepEqual(result.ok && result.value.map((h) => h.name), t.hosts);
      }
    });
  }
});
