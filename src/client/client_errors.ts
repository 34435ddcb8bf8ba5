// The one error the client throws for an answer that is not a success: the HTTP status and the
// API's own error text (Olm's plain-text line or Packetriot's `error` field).

export class BurrowApiError extends Error {
  override name = "BurrowApiError";

  /**
   * @param status the HTTP status
   * @param apiMessage the API's error text, as the agent wrote it (without a trailing newline)
   * @param route method and path, e.g. "POST /connect"
   */
  constructor(readonly status: number, readonly apiMessage: string, readonly route: string) {
    super(`${route}: ${status} ${apiMessage}`);
  }
}
