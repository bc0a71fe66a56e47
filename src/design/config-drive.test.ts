import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  configDriveFiles,
  guestHostname,
  vpmuMeta,
  type ConfigDriveInput,
  type GuestVpmu,
} from './config-drive.js';

const VPMU_ON: GuestVpmu = {
  requested: { flavor: null, image: 'true' },
  resolved: true,
  source: 'image',
  effective: 'on',
  reason: 'Requested by hw_pmu=true from the image; libvirt passes pmu=on to QEMU.',
};

const BASE: ConfigDriveInput = {
  uuid: '0f3a1c9e-8d5b-4c0a-9a57-2f1e6b7d4c21',
  name: 'Perf Box_1',
  hostname: 'perf-box-1',
  projectId: 'p-demo',
  availabilityZone: 'nova',
  launchIndex: 0,
  reservationId: 'r-6b7d4c21',
  flavorName: 'm1.small',
  metadata: { role: 'profiling', vpmu_effective: 'spoofed' },
  key: { name: 'mykey', type: 'ssh', publicKey: 'ssh-ed25519 AAAA test@host' },
  userData: 'I2Nsb3VkLWNvbmZpZwo=',
  vpmu: VPMU_ON,
};

function file(input: ConfigDriveInput, path: string): string | undefined {
  const found = configDriveFiles(input).find((f) => f.path === path);
  return found === undefined ? undefined : Buffer.from(found.content, found.encoding).toString();
}

function json(input: ConfigDriveInput, path: string): Record<string, unknown> {
  return JSON.parse(file(input, path) ?? 'null') as Record<string, unknown>;
}

describe('configDriveFiles()', () => {
  it("lays out Nova's tree: openstack/2012-08-10 and latest, ec2/2009-04-04 and latest", () => {
    assert.deepEqual(
      configDriveFiles(BASE).map((f) => f.path),
      [
        'ec2/2009-04-04/meta-data.json',
        'ec2/2009-04-04/user-data',
        'ec2/latest/meta-data.json',
        'ec2/latest/user-data',
        'openstack/2012-08-10/meta_data.json',
        'openstack/2012-08-10/network_data.json',
        'openstack/2012-08-10/user_data',
        'openstack/2012-08-10/vendor_data.json',
        'openstack/2012-08-10/vendor_data2.json',
        'openstack/latest/meta_data.json',
        'openstack/latest/network_data.json',
        'openstack/latest/user_data',
        'openstack/latest/vendor_data.json',
        'openstack/latest/vendor_data2.json',
      ],
    );
  });

  for (const version of ['latest', '2012-08-10']) {
    it(`writes meta_data.json with Nova's keys and the vPMU in meta (${version})`, () => {
      assert.deepEqual(json(BASE, `openstack/${version}/meta_data.json`), {
        uuid: BASE.uuid,
        meta: {
          role: 'profiling',
          vpmu_requested_flavor: '',
          vpmu_requested_image: 'true',
          vpmu_resolved: 'true',
          vpmu_source: 'image',
          vpmu_effective: 'on',
          vpmu_reason: VPMU_ON.reason,
        },
        public_keys: { mykey: 'ssh-ed25519 AAAA test@host' },
        keys: [{ name: 'mykey', type: 'ssh', data: 'ssh-ed25519 AAAA test@host' }],
        hostname: 'perf-box-1',
        name: 'Perf Box_1',
        launch_index: 0,
        availability_zone: 'nova',
        project_id: 'p-demo',
        devices: [],
      });
    });

    it(`writes the vPMU block to vendor_data2.json (${version})`, () => {
      assert.deepEqual(json(BASE, `openstack/${version}/vendor_data2.json`), { vpmu: VPMU_ON });
      assert.deepEqual(json(BASE, `openstack/${version}/network_data.json`), {
        links: [],
        networks: [],
        services: [],
      });
    });
  }

  it('writes the user data as the tenant gave it (decoded), and none when none', () => {
    assert.equal(file(BASE, 'openstack/latest/user_data'), '#cloud-config\n');
    assert.equal(file(BASE, 'ec2/latest/user-data'), '#cloud-config\n');
    const binary = { ...BASE, userData: Buffer.from([0, 255, 1, 254]).toString('base64') };
    const raw = configDriveFiles(binary).find((f) => f.path === 'openstack/latest/user_data');
    assert.deepEqual([...Buffer.from(raw?.content ?? '', 'base64')], [0, 255, 1, 254]);
    const none = configDriveFiles({ ...BASE, userData: undefined }).map((f) => f.path);
    assert.ok(!none.some((p) => p.endsWith('user_data') || p.endsWith('user-data')));
  });

  it('leaves the key out when the server has none', () => {
    const meta = json({ ...BASE, key: undefined }, 'openstack/latest/meta_data.json');
    assert.ok(!('public_keys' in meta) && !('keys' in meta));
    const ec2 = json({ ...BASE, key: undefined }, 'ec2/latest/meta-data.json');
    assert.ok(!('public-keys' in ec2));
  });

  it('writes the ec2 meta-data', () => {
    assert.deepEqual(json(BASE, 'ec2/latest/meta-data.json'), {
      'ami-launch-index': 0,
      hostname: 'perf-box-1',
      'instance-id': BASE.uuid,
      'instance-type': 'm1.small',
      'local-hostname': 'perf-box-1',
      placement: { 'availability-zone': 'nova' },
      'public-keys': { '0': { 'openssh-key': 'ssh-ed25519 AAAA test@host' } },
      'reservation-id': 'r-6b7d4c21',
      'security-groups': [],
    });
  });
});

describe('vpmuMeta()', () => {
  // prettier-ignore
  const CASES: { name: string; vpmu: GuestVpmu; want: Record<string, string> }[] = [
    { name: 'on from the image', vpmu: VPMU_ON,
      want: { vpmu_requested_flavor: '', vpmu_requested_image: 'true', vpmu_resolved: 'true', vpmu_source: 'image', vpmu_effective: 'on', vpmu_reason: VPMU_ON.reason } },
    { name: 'off from the flavor', vpmu: { requested: { flavor: 'false', image: null }, resolved: false, source: 'flavor', effective: 'off', reason: 'r' },
      want: { vpmu_requested_flavor: 'false', vpmu_requested_image: '', vpmu_resolved: 'false', vpmu_source: 'flavor', vpmu_effective: 'off', vpmu_reason: 'r' } },
    { name: 'unset', vpmu: { requested: { flavor: null, image: null }, resolved: null, source: 'unset', effective: 'off', reason: 'r' },
      want: { vpmu_requested_flavor: '', vpmu_requested_image: '', vpmu_resolved: '', vpmu_source: 'unset', vpmu_effective: 'off', vpmu_reason: 'r' } },
  ];
  for (const c of CASES) {
    it(`gives strings only: ${c.name}`, () => {
      assert.deepEqual(vpmuMeta(c.vpmu), c.want);
    });
  }
});

describe('guestHostname()', () => {
  // prettier-ignore
  const CASES = [
    ['Perf Box_1', 'perf-box-1'],
    ['a.b..c', 'a-b-c'],
    ['***', 'server'],
    ['x'.repeat(80), 'x'.repeat(63)],
  ] as const;
  for (const [name, want] of CASES) {
    it(`${JSON.stringify(name)} → ${want}`, () => {
      assert.equal(guestHostname(name), want);
    });
  }
});
