import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SERVICE_DOWN_TIME, serviceState } from './compute-services.js';

describe('serviceState()', () => {
  const NOW = new Date('2026-01-01T00:10:00.000Z');
  const ago = (s: number) => new Date(NOW.getTime() - s * 1000).toISOString();
  // prettier-ignore
  const CASES: readonly { name: string; forcedDown?: boolean; heartbeatAt?: string | null; downTime?: number; want: 'up' | 'down' }[] = [
    { name: 'never reported (no heartbeatAt): up',          want: 'up' },
    { name: 'never reported (null): up',                    heartbeatAt: null, want: 'up' },
    { name: 'reported just now',                            heartbeatAt: ago(0), want: 'up' },
    { name: 'reported 60 s ago: not yet older than 60 s',   heartbeatAt: ago(60), want: 'up' },
    { name: 'reported 60.001 s ago',                        heartbeatAt: ago(60.001), want: 'down' },
    { name: 'reported an hour ago',                         heartbeatAt: ago(3600), want: 'down' },
    { name: 'a longer service_down_time keeps it up',       heartbeatAt: ago(3600), downTime: 7200, want: 'up' },
    { name: 'a shorter one takes it down sooner',           heartbeatAt: ago(11), downTime: 10, want: 'down' },
    { name: 'a clock behind the report: up',                heartbeatAt: ago(-30), want: 'up' },
    { name: 'forced down, fresh heartbeat',                 forcedDown: true, heartbeatAt: ago(0), want: 'down' },
    { name: 'forced down, never reported',                  forcedDown: true, want: 'down' },
    { name: 'not forced down, stale heartbeat',             forcedDown: false, heartbeatAt: ago(61), want: 'down' },
  ];
  for (const c of CASES) {
    it(c.name, () => {
      const host = {
        ...(c.forcedDown === undefined ? {} : { forcedDown: c.forcedDown }),
        ...(c.heartbeatAt === undefined ? {} : { heartbeatAt: c.heartbeatAt }),
      };
      assert.equal(serviceState(host, NOW, c.downTime ?? DEFAULT_SERVICE_DOWN_TIME), c.want);
    });
  }

  it("defaults to Nova's service_down_time, 60 s", () => {
    assert.equal(DEFAULT_SERVICE_DOWN_TIME, 60);
  });
});
