/**
 * The content of a server's config drive, laid out as Nova's config drive (an ISO 9660 volume
 * labelled `config-2`): `openstack/<version>/` with meta_data.json, user_data, network_data.json,
 * vendor_data.json and vendor_data2.json, and `ec2/<version>/` with meta-data.json and user-data.
 * Pure: the files come out as paths and text; an adapter writes them into an ISO.
 *
 * Beyond Nova, the guest learns its vPMU: vendor_data2.json's `vpmu` object and the `vpmu_*` keys
 * of meta_data.json's `meta` carry what GET /servers/{id}/os-vpmu shows (docs/pmu.md).
 */

/** The volume label cloud-init and Nova's guests look for. */
export const CONFIG_DRIVE_LABEL = 'config-2';

/** The OpenStack metadata versions written, oldest first; `latest` is written too. */
export const OPENSTACK_VERSIONS: readonly string[] = ['2012-08-10'];

/** The EC2 metadata versions written; `latest` is written too. */
export const EC2_VERSIONS: readonly string[] = ['2009-04-04'];

/** The vPMU as the guest is told it (the shape of GET /servers/{id}/os-vpmu). */
export interface GuestVpmu {
  readonly requested: { readonly flavor: string | null; readonly image: string | null };
  readonly resolved: boolean | null;
  readonly source: string;
  readonly effective: 'on' | 'off';
  readonly reason: string;
}

/** A key pair as delivered: Nova's `keys` entry. */
export interface GuestKey {
  readonly name: string;
  readonly type: string;
  readonly publicKey: string;
}

/** What a config drive is made from. */
export interface ConfigDriveInput {
  readonly uuid: string;
  readonly name: string;
  readonly hostname: string;
  readonly projectId: string;
  readonly availabilityZone: string;
  readonly launchIndex: number;
  readonly reservationId: string;
  readonly flavorName: string;
  /** The server's metadata (Nova's `meta`); the `vpmu_*` keys are vpmu's and replace any set. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly key: GuestKey | undefined;
  /** The user data as the API took it: base64 text. */
  readonly userData: string | undefined;
  /** The server's adminPass (Nova's `admin_pass`, which only a config drive carries). */
  readonly adminPass?: string | undefined;
  readonly vpmu: GuestVpmu;
}

/** One file of the drive: a path below the volume root and its content. */
export interface ConfigDriveFile {
  readonly path: string;
  /** Text, or base64 of binary content (user data is the tenant's bytes, whatever they are). */
  readonly content: string;
  readonly encoding: 'utf8' | 'base64';
}

/** The `vpmu_*` keys added to `meta`: strings, as every Nova metadata value; '' for null. */
export function vpmuMeta(vpmu: GuestVpmu): Record<string, string> {
  return {
    vpmu_requested_flavor: vpmu.requested.flavor ?? '',
    vpmu_requested_image: vpmu.requested.image ?? '',
    vpmu_resolved: vpmu.resolved === null ? '' : String(vpmu.resolved),
    vpmu_source: vpmu.source,
    vpmu_effective: vpmu.effective,
    vpmu_reason: vpmu.reason,
  };
}

/** Nova's hostname from a display name: lower case, letters, digits and '-', at most 63. */
export function guestHostname(name: string): string {
  const host = name
    .toLowerCase()
    .replace(/[ _]/gu, '-')
    .replace(/[^a-z0-9.-]/gu, '')
    .replace(/\.+/gu, '-')
    .replace(/^[.-]+|[.-]+$/gu, '')
    .slice(0, 63)
    .replace(/[.-]+$/u, '');
  return host === '' ? 'server' : host;
}

/** Every file of the drive, in path order. */
export function configDriveFiles(input: ConfigDriveInput): ConfigDriveFile[] {
  const files: ConfigDriveFile[] = [];
  const json = (path: string, value: unknown) => {
    files.push({ path, content: `${JSON.stringify(value)}\n`, encoding: 'utf8' });
  };
  const userData = (path: string) => {
    if (input.userData !== undefined) {
      files.push({ path, content: input.userData.replace(/\s+/gu, ''), encoding: 'base64' });
    }
  };
  for (const version of [...OPENSTACK_VERSIONS, 'latest']) {
    const dir = `openstack/${version}`;
    json(`${dir}/meta_data.json`, openstackMetaData(input));
    json(`${dir}/network_data.json`, { links: [], networks: [], services: [] });
    json(`${dir}/vendor_data.json`, {});
    json(`${dir}/vendor_data2.json`, { vpmu: input.vpmu });
    userData(`${dir}/user_data`);
  }
  for (const version of [...EC2_VERSIONS, 'latest']) {
    const dir = `ec2/${version}`;
    json(`${dir}/meta-data.json`, ec2MetaData(input));
    userData(`${dir}/user-data`);
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

function openstackMetaData(input: ConfigDriveInput): Record<string, unknown> {
  const { key } = input;
  return {
    uuid: input.uuid,
    meta: { ...input.metadata, ...vpmuMeta(input.vpmu) },
    ...(key === undefined
      ? {}
      : {
          public_keys: { [key.name]: key.publicKey },
          keys: [{ name: key.name, type: key.type, data: key.publicKey }],
        }),
    hostname: input.hostname,
    name: input.name,
    launch_index: input.launchIndex,
    availability_zone: input.availabilityZone,
    project_id: input.projectId,
    devices: [],
    ...(input.adminPass === undefined ? {} : { admin_pass: input.adminPass }),
  };
}

function ec2MetaData(input: ConfigDriveInput): Record<string, unknown> {
  const { key } = input;
  return {
    'ami-launch-index': input.launchIndex,
    hostname: input.hostname,
    'instance-id': input.uuid,
    'instance-type': input.flavorName,
    'local-hostname': input.hostname,
    placement: { 'availability-zone': input.availabilityZone },
    ...(key === undefined ? {} : { 'public-keys': { '0': { 'openssh-key': key.publicKey } } }),
    'reservation-id': input.reservationId,
    'security-groups': [],
  };
}
