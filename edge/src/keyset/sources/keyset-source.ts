/** Somewhere an edge can pull the current keyset envelope from. */
export interface KeysetSource {
  /** For logs. */
  readonly name: string;
  /**
   * The envelope; undefined only when an origin answered "nothing changed since your last pull" (a 304), or when
   * the KV mirror holds none. An origin that has no envelope, or answers with something that is not one, throws
   * `pull_failed`: only an answer vouching for a keyset may confirm it.
   */
  pull(): Promise<string | undefined>;
  /** Drops revalidation state (an ETag), so that the next pull fetches the envelope whole. */
  forget?(): void;
  /** The envelope the last answer carried, or stood for when it was a 304, with its ETag; undefined before any. */
  readonly validated?: ValidatedEnvelope | undefined;
  /**
   * Takes an envelope and ETag learned from elsewhere (the location's copy of another isolate's answer), so that
   * the next pull asks If-None-Match; ignored unless the ETag is the one this origin gives that envelope.
   */
  adopt?(validated: ValidatedEnvelope): Promise<void>;
}

/** An envelope as an origin served it, with the ETag it came with (none from Upstash). */
export interface ValidatedEnvelope {
  envelope: string;
  etag?: string;
}

/** How long one pull may take before it counts as failed. */
export const PULL_TIMEOUT_MS = 5_000;
