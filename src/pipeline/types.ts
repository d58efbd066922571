/** One message as read from a partition of the input. */
export interface SourceMessage {
  /** Kafka offset, as a decimal string (int64). */
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

/** Consecutive messages of one partition, in offset order. */
export interface PartitionChunk {
  topic: string;
  partition: number;
  messages: SourceMessage[];
}

/** A rejected message, kept with its original bytes and the reason. */
export interface DeadLetter {
  topic: string;
  partition: number;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  field: string;
  reason: string;
}

export interface DeadLetterSink {
  /** Resolves once the letters are durable. */
  send(letters: readonly DeadLetter[]): Promise<void>;
}

/** Outcome of one chunk: where the partition stands now. */
export interface ChunkResult {
  /** The next offset to consume, stored with the state; null if fenced. */
  nextOffset: string | null;
  applied: number;
  rejected: number;
  skipped: number;
}
