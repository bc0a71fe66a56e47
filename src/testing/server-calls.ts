/** The compute and image calls server tests make through the HTTP API, asserting each worked. */
import assert from 'node:assert/strict';
import type { TestApi } from './api.js';

export type Who = 'admin' | 'member' | 'reader' | 'other';

/** A flavor (admin) with extra specs; returns its id. */
export async function flavor(
  api: TestApi,
  name: string,
  specs: Record<string, string> = {},
  size: { vcpus?: number; ram?: number; disk?: number } = {},
): Promise<string> {
  const res = await api.request('POST', '/compute/v2.1/flavors', {
    body: {
      flavor: { name, vcpus: size.vcpus ?? 1, ram: size.ram ?? 256, disk: size.disk ?? 1 },
    },
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const id = (res.body as { flavor: { id: string } }).flavor.id;
  if (Object.keys(specs).length > 0) {
    const set = await api.request('POST', `/compute/v2.1/flavors/${id}/os-extra_specs`, {
      body: { extra_specs: specs },
    });
    assert.equal(set.status, 200, JSON.stringify(set.body));
  }
  return id;
}

/** An uploaded (active) public image with properties; returns its id. */
export async function image(
  api: TestApi,
  name: string,
  properties: Record<string, string> = {},
): Promise<string> {
  const res = await api.request('POST', '/image/v2/images', {
    body: {
      name,
      disk_format: 'raw',
      container_format: 'bare',
      visibility: 'public',
      ...properties,
    },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const id = (res.body as { id: string }).id;
  const put = await api.request('PUT', `/image/v2/images/${id}/file`, {
    rawBody: new Uint8Array(1024),
  });
  assert.equal(put.status, 204, put.text);
  return id;
}

export async function boot(
  api: TestApi,
  flavorRef: string,
  imageRef: string,
  as: Who = 'member',
  name = 'vm',
): Promise<{ status: number; id: string; body: unknown }> {
  const res = await api.request('POST', '/compute/v2.1/servers', {
    as,
    body: { server: { name, flavorRef, imageRef, networks: 'none' } },
  });
  const id = (res.body as { server?: { id: string } }).server?.id ?? '';
  return { status: res.status, id, body: res.body };
}

export async function show(
  api: TestApi,
  id: string,
  as: Who = 'member',
): Promise<Record<string, unknown>> {
  const res = await api.request('GET', `/compute/v2.1/servers/${id}`, { as });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { server: Record<string, unknown> }).server;
}

/** The server's vPMU decision (`GET /servers/{id}/os-vpmu`); admins also get `domain_xml`. */
export async function vpmuOf(
  api: TestApi,
  id: string,
  as: Who = 'member',
): Promise<Record<string, unknown>> {
  const res = await api.request('GET', `/compute/v2.1/servers/${id}/os-vpmu`, { as });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  return (res.body as { vpmu: Record<string, unknown> }).vpmu;
}

export function message(res: { body: unknown }): string {
  const [fault] = Object.values(res.body as Record<string, { message: string }>);
  return fault?.message ?? '';
}

export async function action(api: TestApi, id: string, body: unknown, as: Who = 'member') {
  return api.request('POST', `/compute/v2.1/servers/${id}/action`, { as, body });
}
