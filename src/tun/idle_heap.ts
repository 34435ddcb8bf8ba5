// Gives an engine Worker's grown heap back once its traffic stops. V8 grows an isolate's young
// generation (up to the launcher's --max-semi-space-size) while much of what it allocates
// survives, as when the Worker loads its modules, and shrinks it again only in a collection
// that runs at a low allocation rate. An idle engine allocates next to nothing, so that
// collection does not come on its own, and the freed pages stay in V8's page pool: measured, up
// to 3 MiB of an idle agent (docs/data-plane.md, "Young generation"). One collection of
// everything collectable (V8's "last resort" flavour, which shrinks the young generation and
// empties the pool), run when the engine has been quiet for a while and its heap has grown
// since the last one, gives them back. It needs `gc`, which the launcher exposes
// (--expose-gc); without it this does nothing.

/** The spell over which the engine's packets are counted. */
export const IDLE_HEAP_WINDOW_MS = 5_000;
/**
 * Packets in a spell below which the engine counts as idle: an idle agent still sees a few a
 * second (keepalives, the hub's probes).
 */
export const IDLE_HEAP_PACKETS = 100;
/**
 * Heap growth since the last collection below which an idle heap is left alone: more than the
 * one young-generation page set a collected heap takes again at its next scavenge, so an idle
 * engine is not collected over and over.
 */
export const IDLE_HEAP_GROWTH_BYTES = 2 << 20;

type Collect = () => void;

/** V8's collection of everything collectable, when the launcher exposed `gc`. */
function exposedCollect(): Collect | null {
  const gc = (globalThis as { gc?: (options?: unknown) => unknown }).gc;
  if (typeof gc !== "function") return null;
  return () => void gc({ type: "major", execution: "sync", flavor: "last-resort" });
}

/**
 * Decides when an idle isolate's heap is collected. The loop counts its packets with
 * {@linkcode work} and calls {@linkcode idle} before it sleeps; the heap's size is looked at
 * once per quiet spell.
 */
export class IdleHeap {
  #spellStart: number;
  #packets = 0;
  /** The heap's committed size after the last collection (0: none yet). */
  #afterLast = 0;
  readonly #heapBytes: () => number;
  readonly #collect: Collect | null;

  constructor(
    now: number,
    heapBytes: () => number = () => Deno.memoryUsage().heapTotal,
    collect: Collect | null = exposedCollect(),
  ) {
    this.#spellStart = now;
    this.#heapBytes = heapBytes;
    this.#collect = collect;
  }

  /** The loop handled `packets` packets. */
  work(packets: number): void {
    this.#packets += packets;
  }

  /**
   * The loop is about to sleep at `now`: at the end of a spell with few packets, collects when
   * the heap has grown since the last collection.
   *
   * @returns whether it collected
   */
  idle(now: number): boolean {
    if (this.#collect === null || now - this.#spellStart < IDLE_HEAP_WINDOW_MS) return false;
    const quiet = this.#packets < IDLE_HEAP_PACKETS;
    this.#spellStart = now;
    this.#packets = 0;
    if (!quiet || this.#heapBytes() - this.#afterLast < IDLE_HEAP_GROWTH_BYTES) return false;
    this.#collect();
    this.#afterLast = this.#heapBytes();
    return true;
  }
}
