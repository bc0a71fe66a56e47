/**
 * Checks image data against its declared disk format before anything uses it (the class of
 * OpenStack's OSSA-2024-001): a tenant's image must never make a guest disk reach host files.
 */

/** What an inspection found: the data is safe to use as the declared format, or why not. */
export type InspectionOutcome =
  | { readonly ok: true; readonly virtualSize: number }
  | {
      readonly ok: false;
      /** Why, for the tenant: what was found, never a host path. */
      readonly reason: string;
    };

/** Inspects stored image data. */
export interface ImageInspector {
  /**
   * Inspects the data at `location` (an ImageFiles location) as `declaredFormat` (a Glance
   * disk_format, or null when none was declared). Resolves `ok: false` with the reason when the
   * data is not that format, refers to other files, or is larger than allowed; rejects only when
   * the inspection itself could not run.
   */
  inspect(location: string, declaredFormat: string | null): Promise<InspectionOutcome>;
}
