// Preloaded (`node --expose-gc --require`) into a process the memory breakdown measures: on SIGUSR2 it runs a
// full collection and prints process.memoryUsage() as one line, `idle-memory {...}`. CommonJS and plain
// JavaScript so that loading it adds neither the ES module loader nor type stripping to the process measured.
process.on('SIGUSR2', () => {
  globalThis.gc?.();
  process.stdout.write(`idle-memory ${JSON.stringify(process.memoryUsage())}\n`);
});
