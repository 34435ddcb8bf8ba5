// The libc calls the device makes through FFI (TUN, UDP sockets, poll); each thread opens its own handle.

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  // ssize_t results are read as i32: the lengths here are far below 2^31.
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  ioctl: { parameters: ["i32", "u64", "buffer"], result: "i32" },
  // ioctl whose argument is a plain integer (TUNSETOFFLOAD).
  ioctlValue: { name: "ioctl", parameters: ["i32", "u64", "u64"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  poll: { parameters: ["buffer", "usize", "i32"], result: "i32" },
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "i32" },
  recvmmsg: { parameters: ["i32", "pointer", "u32", "i32", "pointer"], result: "i32" },
  recvmsg: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  sendmsg: { parameters: ["i32", "buffer", "i32"], result: "i32" },
  accept4: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  shutdown: { parameters: ["i32", "i32"], result: "i32" },
  setns: { parameters: ["i32", "i32"], result: "i32" },
  eventfd: { parameters: ["u32", "i32"], result: "i32" },
  sched_yield: { parameters: [], result: "i32" },
  umask: { parameters: ["u32"], result: "u32" },
  // poll on a pool thread: the UAPI server waits on an inherited listener without blocking the loop.
  pollAsync: {
    name: "poll",
    parameters: ["buffer", "usize", "i32"],
    result: "i32",
    nonblocking: true,
  },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Buffer = ArrayBufferView<ArrayBufferLike> | null;
type Pointer = Deno.PointerValue;

/**
 * The symbols. A size_t parameter takes a bigint ({@linkcode sizeArg}): Deno accepts a number
 * there too, but then V8 deoptimizes every optimized function that makes the call ("not a
 * BigInt") and optimizes it again later, without end: the engine Worker's hot loop ran
 * deoptimized most of the time, and the recompilation kept V8's helper threads busy.
 */
export interface Libc {
  open(path: Buffer, flags: number, mode: number): number;
  close(fd: number): number;
  read(fd: number, buffer: Buffer, length: bigint): number;
  write(fd: number, buffer: Buffer, length: bigint): number;
  ioctl(fd: number, request: bigint, argument: Buffer): number;
  ioctlValue(fd: number, request: bigint, argument: bigint): number;
  fcntl(fd: number, command: number, argument: number): number;
  poll(fds: Buffer, count: bigint, timeoutMs: number): number;
  socket(domain: number, type: number, protocol: number): number;
  bind(fd: number, address: Buffer, length: number): number;
  setsockopt(fd: number, level: number, name: number, value: Buffer, length: number): number;
  getsockname(fd: number, address: Buffer, length: Buffer): number;
  sendto(
    fd: number,
    buffer: Buffer,
    length: bigint,
    flags: number,
    address: Buffer,
    addressLength: number,
  ): number;
  recvmmsg(fd: number, headers: Pointer, count: number, flags: number, timeout: Pointer): number;
  recvmsg(fd: number, message: Buffer, flags: number): number;
  sendmsg(fd: number, message: Buffer, flags: number): number;
  accept4(fd: number, address: Buffer, length: Buffer, flags: number): number;
  shutdown(fd: number, how: number): number;
  setns(fd: number, nstype: number): number;
  eventfd(initial: number, flags: number): number;
  sched_yield(): number;
  umask(mask: number): number;
  pollAsync(fds: Buffer, count: bigint, timeoutMs: number): Promise<number>;
  __errno_location(): Pointer;
}

let library: Deno.DynamicLibrary<typeof SYMBOLS> | null = null;

/** This thread's libc handle, opened on first use. */
export function libc(): Libc {
  library ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return library.symbols as unknown as Libc;
}

/** Sizes below this are made into bigints once: every packet of a 1500-byte path MTU. */
const SIZE_ARGS_CACHED = 2048;
let sizeArgs: bigint[] | null = null;

/**
 * `n` as the bigint a size_t parameter takes (see {@linkcode Libc}), without an allocation per
 * call for the sizes of ordinary packets.
 */
export function sizeArg(n: number): bigint {
  if (n >= SIZE_ARGS_CACHED) return BigInt(n);
  sizeArgs ??= Array.from({ length: SIZE_ARGS_CACHED }, (_, i) => BigInt(i));
  return sizeArgs[n];
}

/** This thread's errno, where __errno_location says it is (fixed for the thread's life). */
let errnoView: Deno.UnsafePointerView | null = null;

/** The calling thread's errno after a failed call. */
export function errno(): number {
  if (errnoView === null) {
    const pointer = libc().__errno_location();
    if (pointer === null) return 0;
    errnoView = new Deno.UnsafePointerView(pointer);
  }
  return errnoView.getInt32(0);
}

/** Closes this thread's libc handle (Workers call it before exiting). */
export function closeLibc(): void {
  library?.close();
  library = null;
  errnoView = null;
}

export const O_RDWR = 0o2;
export const O_NONBLOCK = 0o4000;
export const O_CLOEXEC = 0o2000000;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const EINTR = 4;
export const EAGAIN = 11;
export const EBADFD = 77;
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLERR = 0x8;
export const POLLHUP = 0x10;
export const POLLNVAL = 0x20;
export const AF_INET = 2;
export const AF_INET6 = 10;
export const SOCK_DGRAM = 2;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const SO_REUSEADDR = 2;
export const SO_SNDBUF = 7;
export const SO_RCVBUF = 8;
export const SO_RCVBUFFORCE = 33;
export const SO_SNDBUFFORCE = 32;
export const SO_MARK = 36;
export const IPPROTO_IPV6 = 41;
export const IPV6_V6ONLY = 26;
export const MSG_DONTWAIT = 0x40;
export const MSG_TRUNC = 0x20;
export const EADDRINUSE = 98;
export const EINVAL = 22;
export const EIO = 5;
export const ENODEV = 19;
export const ENXIO = 6;
export const EADDRNOTAVAIL = 99;
export const ENETUNREACH = 101;
export const IPPROTO_IP = 0;
export const IP_PKTINFO = 8;
export const IPV6_RECVPKTINFO = 49;
export const IPV6_PKTINFO = 50;
export const SOL_UDP = 17;
export const UDP_SEGMENT = 103;
export const UDP_GRO = 104;
export const CLONE_NEWNET = 0x40000000;
export const SHUT_RDWR = 2;
export const EFD_SEMAPHORE = 1;

/** A C string (NUL-terminated UTF-8) for FFI. */
export function cString(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const out = new Uint8Array(bytes.length + 1);
  out.set(bytes);
  return out;
}

/** Error for a failed libc call, carrying errno; message names the call and the errno. */
export class SyscallError extends Error {
  override name = "SyscallError";
  constructor(readonly call: string, readonly errno: number) {
    super(`${call} failed: errno ${errno}`);
  }
}
