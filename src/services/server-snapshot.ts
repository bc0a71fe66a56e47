/**
 * createImage (Nova's server snapshot): the server's root disk, flattened by its host into image
 * data, becomes a private image of the caller's project. As in Nova, the image carries the
 * properties of the image the server was built from (its `hw_pmu` among them), then the ones the
 * request gives, then `instance_uuid`, `user_id`, `image_type=snapshot` and `base_image_ref`.
 */
import type { ImageRecord, ServerRecord } from '../ports/store.js';
import type { RequestContext } from './identity.js';
import { createImage, uploadImageData, type ImageDeps } from './images.js';
import type { CallInfo } from './server-checks.js';
import type { ServerWork } from './server-work.js';

/** What createImage asks for, checked by the API. */
export interface SnapshotRequest {
  readonly name: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** createBackup: the backup type and how many backups of it to keep (older ones go). */
  readonly backup?: { readonly type: string; readonly rotation: number };
}

/** The states Nova snapshots a server in (ACTIVE, SHUTOFF, PAUSED, SUSPENDED). */
const SNAPSHOT_STATES = ['ACTIVE', 'SHUTOFF', 'PAUSED', 'SUSPENDED'] as const;

/** The snapshot of servers into images. */
export class ServerSnapshots {
  readonly #work: ServerWork;

  constructor(work: ServerWork) {
    this.#work = work;
  }

  /** Snapshots the server into a new image; returns the image, active with its data. */
  async createImage(
    ctx: RequestContext,
    id: string,
    request: SnapshotRequest,
    images: ImageDeps,
    call: CallInfo = {},
  ): Promise<ImageRecord> {
    const work = this.#work;
    let image: ImageRecord | undefined;
    await work.action(
      ctx,
      id,
      request.backup === undefined ? 'createImage' : 'createBackup',
      SNAPSHOT_STATES,
      async (server, agent, context) => {
        const snapshotting = await work.save(server, { taskState: 'image_snapshot' });
        try {
          const { diskFormat, data } = await agent.snapshot(server.id);
          image = await createImage(images, ctx, {
            name: request.name,
            visibility: 'private',
            diskFormat,
            containerFormat: 'bare',
            minDiskGiB: Math.max(server.flavor.diskGiB, server.image.minDiskGiB ?? 0),
            minRamMiB: server.image.minRamMiB ?? 0,
            properties: snapshotProperties(server, ctx, request),
          });
          const details = { snapshotImageId: image.id };
          work.notify('snapshot', 'start', snapshotting, context, undefined, details);
          const uploading = await work.save(snapshotting, { taskState: 'image_uploading' });
          image = await uploadImageData(images, ctx, image.id, data);
          if (request.backup !== undefined) await rotate(images, server, request.backup);
          const done = await work.save(uploading, { taskState: null });
          work.notify('snapshot', 'end', done, context, undefined, details);
          return done;
        } catch (error) {
          // As Nova: the server goes back to what it was; a half-made image is deleted.
          if (image !== undefined && image.status !== 'active') {
            await images.store.deleteImage(image.id).catch(() => undefined);
          }
          await work.save(snapshotting, { taskState: null });
          throw error;
        }
      },
      call,
    );
    if (image === undefined) throw new TypeError('a snapshot made no image');
    return image;
  }
}

/** The image properties of a snapshot (and of a shelve's image), as Nova sets them. */
export function snapshotProperties(
  server: ServerRecord,
  ctx: RequestContext,
  request: SnapshotRequest,
): Record<string, string> {
  return {
    ...server.image.properties,
    ...request.metadata,
    instance_uuid: server.id,
    user_id: ctx.userId,
    image_type: request.backup === undefined ? 'snapshot' : 'backup',
    ...(request.backup === undefined ? {} : { backup_type: request.backup.type }),
    base_image_ref: server.image.id,
  };
}

/** Nova's backup rotation: of the server's backups of this type, only the newest `rotation` stay. */
async function rotate(
  images: ImageDeps,
  server: ServerRecord,
  backup: { readonly type: string; readonly rotation: number },
): Promise<void> {
  const backups = (await images.store.listImages({}))
    .filter(
      (i) =>
        i.properties.instance_uuid === server.id &&
        i.properties.image_type === 'backup' &&
        i.properties.backup_type === backup.type,
    )
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0));
  for (const old of backups.slice(backup.rotation)) {
    await images.store.deleteImage(old.id);
    if (old.dataLocation !== null) await images.files.delete(old.dataLocation);
  }
}
