/** The parts of WebAssembly used by the kernels (the project's type libraries do not declare it). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;
const PAGE = 65_536;
const compiled = new Map<string, object>();

/** A new instance of a kernel given as base64 bytes; each kernel is compiled once per process. */
export function instantiateKernel<Exports>(base64: string): Exports {
  let module = compiled.get(base64);
  if (module === undefined) {
    module = new wasm.Module(Buffer.from(base64, 'base64'));
    compiled.set(base64, module);
  }
  return new wasm.Instance(module).exports as Exports;
}

/** Grows `memory` to hold at least `bytes`; every view of its old buffer is then detached. */
export function growMemory(memory: WasmMemory, bytes: number): ArrayBuffer {
  const needed = Math.ceil(bytes / PAGE);
  const pages = memory.buffer.byteLength / PAGE;
  if (needed > pages) memory.grow(needed - pages);
  return memory.buffer;
}
