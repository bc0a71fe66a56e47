/**
 * Records for Glance's image sharing and metadata-definition administration, kept by the Store
 * (src/ports/store.ts): image members, and the metadef namespaces administrators create.
 */

/** Glance's image member statuses. */
export const MEMBER_STATUSES = ['pending', 'accepted', 'rejected'] as const;
export type MemberStatus = (typeof MEMBER_STATUSES)[number];

/** One project an image is shared with. */
export interface ImageMemberRecord {
  readonly imageId: string;
  /** The project the image is shared with (Glance's member_id). */
  readonly memberId: string;
  readonly status: MemberStatus;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/**
 * A metadef property: a JSON-schema fragment (title, type, enum, minimum, …) as Glance stores it;
 * checked against Glance's property schema by the API before it is stored.
 */
export type MetadefPropertyRecord = Readonly<Record<string, unknown>>;

/** A resource type a namespace applies to (Glance's resource_type_association). */
export interface MetadefResourceTypeRecord {
  readonly name: string;
  readonly prefix?: string;
  readonly propertiesTarget?: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A metadef object: a named group of properties. */
export interface MetadefObjectRecord {
  readonly name: string;
  readonly description?: string;
  readonly required?: readonly string[];
  readonly properties: Readonly<Record<string, MetadefPropertyRecord>>;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A metadef tag. */
export interface MetadefTagRecord {
  readonly name: string;
  readonly createdAt: string;
  readonly updatedAt: string;
}

/** A metadef namespace an administrator created, with everything in it. */
export interface MetadefNamespaceRecord {
  readonly namespace: string;
  readonly displayName?: string;
  readonly description?: string;
  readonly visibility: 'public' | 'private';
  readonly protected: boolean;
  readonly owner: string;
  readonly resourceTypes: readonly MetadefResourceTypeRecord[];
  readonly properties: Readonly<Record<string, MetadefPropertyRecord>>;
  readonly objects: readonly MetadefObjectRecord[];
  readonly tags: readonly MetadefTagRecord[];
  readonly createdAt: string;
  readonly updatedAt: string;
}
