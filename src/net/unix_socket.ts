// Whether a Unix socket file is live: both the local API and the UAPI socket refuse to take over
// a socket another process still serves, and replace one that nobody answers on (stale).

/** Whether something accepts connections on the Unix socket at `path`. */
export async function unixSocketAnswers(path: string): Promise<boolean> {
  try {
    const connection = await Deno.connect({ transport: "unix", path });
    connection.close();
    return true;
  } catch {
    // ECONNREFUSED: nobody listens (stale); any other failure counts as not answering either.
    return false;
  }
}
