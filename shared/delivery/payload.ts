/** An event as stored, in the shape the delivery contract needs. */
export interface StoredEvent {
  id: string;
  installationId: string;
  type: string;
  entityId: string | null;
  occurredAt: Date;
  data: unknown;
}

/**
 * The JSON body receivers get (docs/receivers.md). `timestamp` is when the message
 * was created, so the body, and with it the signature base, is the same on every retry.
 */
export function buildPayload(event: StoredEvent, messageCreatedAt: Date): string {
  return JSON.stringify({
    type: event.type,
    timestamp: messageCreatedAt.toISOString(),
    data: event.data,
    eventId: event.id,
    installationId: event.installationId,
    entityId: event.entityId,
    occurredAt: event.occurredAt.toISOString(),
  });
}
