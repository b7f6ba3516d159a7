/** Somewhere an edge can pull the current keyset envelope from. */
export interface KeysetSource {
  /** For logs. */
  readonly name: string;
  /** The envelope, or undefined when the source has none or nothing changed since the last pull. */
  pull(): Promise<string | undefined>;
  /** Drops revalidation state (an ETag), so that the next pull fetches the envelope whole. */
  forget?(): void;
}

/** How long one pull may take before it counts as failed. */
export const PULL_TIMEOUT_MS = 5_000;
