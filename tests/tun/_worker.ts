// Test helpers for the device's Workers: start one from src/tun and wait for a report by type.

/** Starts the module Worker `file` of src/tun (e.g. "engine_worker.ts"). */
export function startWorker(file: string): Worker {
  return new Worker(new URL(`../../src/tun/${file}`, import.meta.url), { type: "module" });
}

/** The next report of `type` the worker posts (listen before sending what causes it). */
export function nextReport<Report extends { type: string }>(
  worker: Worker,
  type: Report["type"],
): Promise<Report> {
  return new Promise((resolve) => {
    const listener = (event: MessageEvent<Report>) => {
      if (event.data.type === type) {
        worker.removeEventListener("message", listener);
        resolve(event.data);
      }
    };
    worker.addEventListener("message", listener);
  });
}
