export * from './guest-config.js';
export * from './guest-lifecycle.js';
export * from './host-info.js';
export * from './readback.js';
export * from './hypervisor-session.js';
export * from './identity.js';
export * from './flavors.js';
export * from './images.js';
export * from './image-sharing.js';
export * from './metadefs.js';
export * from './metadef-admin.js';
export type { Clock, Ids } from '../ports/clock.js';
export type { ImageFiles } from '../ports/image-files.js';
export type { ImageInspector, InspectionOutcome } from '../ports/image-inspector.js';
export type { Store } from '../ports/store.js';
export type { NotifierStats } from '../ports/notifier.js';
export { parseBoolean } from '../specs/index.js';
export * from './servers.js';
export * from './server-admin-actions.js';
export * from './server-tags.js';
export * from './server-locks.js';
export * from './local-compute-agent.js';
export * from './compute-agent-rpc.js';
export { RemoteComputes } from './remote-computes.js';
export { Slots } from './slots.js';
export type * from '../ports/compute-agent.js';
export * from './publish-event.js';
export * from './placement.js';
export * from './server-groups.js';
export * from './server-list.js';
export * from './keypairs.js';
export * from './compute-services.js';
export * from './identity-admin.js';
export * from './quotas.js';
export * from './tenant-usage.js';
export {
  listInstanceActions,
  showInstanceAction,
  computeEventOf,
} from './server-instance-actions.js';
export type { InstanceActionRecord, InstanceActionEventRecord } from '../ports/store.js';
export * from './aggregates.js';
