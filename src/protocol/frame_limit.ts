// The size limit of one control-channel WebSocket message, a fact both ends share: the hub
// closes a socket whose message is larger (1009), so the agent must never build one, or it
// would reconnect, log in and send it again forever.

/** Largest WebSocket message the hub accepts by default (`maxFrameBytes`): 1 MiB. */
export const HUB_MAX_FRAME_BYTES = 1024 * 1024;

/** Room for the `requestId` the session adds to a request (a UUID and its key). */
const REQUEST_ID_ROOM = '"requestId":"00000000-0000-0000-0000-000000000000",'.length;

/** The UTF-8 size of `{type, data}` as the session sends it, request id included. */
export function requestFrameBytes(type: string, data: Record<string, unknown>): number {
  return new TextEncoder().encode(JSON.stringify({ type, data })).length + REQUEST_ID_ROOM;
}
