import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { placeInZone, type ZoneConstraint } from './availability-zone.js';

const HOSTS = [{ name: 'a' }, { name: 'b' }, { name: 'c' }];
const ZONES: Record<string, string> = { a: 'az1', b: 'az1', c: 'nova' };
const zoneOf = (host: string) => ZONES[host] ?? 'nova';

describe('placeInZone (AvailabilityZoneFilter and forced hosts)', () => {
  const cases: { name: string; constraint: ZoneConstraint; want: string[] | RegExp }[] = [
    { name: 'no constraint keeps every host', constraint: {}, want: ['a', 'b', 'c'] },
    { name: 'a zone keeps its hosts, in order', constraint: { zone: 'az1' }, want: ['a', 'b'] },
    { name: 'the default zone', constraint: { zone: 'nova' }, want: ['c'] },
    { name: 'a forced host', constraint: { host: 'b' }, want: ['b'] },
    { name: 'a forced host in its zone', constraint: { zone: 'az1', host: 'a' }, want: ['a'] },
    {
      name: 'a zone none of the passing hosts is in',
      constraint: { zone: 'az9' },
      want: /^No valid host was found\. No host in availability zone az9 passed the filters \(those that did are in az1, nova\)\.$/u,
    },
    {
      name: 'a forced host outside the named zone',
      constraint: { zone: 'nova', host: 'a' },
      want: /The forced host a in availability zone nova did not pass the filters/u,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const result = placeInZone(HOSTS, c.constraint, zoneOf);
      if (Array.isArray(c.want)) {
        assert.ok(result.ok);
        assert.deepEqual(
          result.value.map((h) => h.name),
          c.want,
        );
      } else {
        assert.ok(!result.ok);
        assert.equal(result.issues[0].code, 'scheduler.no_valid_host');
        assert.match(result.issues[0].message, c.want);
      }
    });
  }
});
