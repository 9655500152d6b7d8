// `npm start`'s entry, plain JavaScript so that loading it needs no TypeScript stripping. It turns
// on Node's compile cache (in the system's temp folder) for this process and its worker threads,
// then loads the runtime. From the second start on, Node then loads the runtime's TypeScript from
// the cache: no thread loads the type stripper (about 10 MB per thread), and starts are quicker.
// A changed file is stripped again; the cache is keyed by content.
import module from 'node:module';

const cache = module.enableCompileCache();
// Worker threads read it from the environment when they start.
if (cache.directory && !process.env.NODE_COMPILE_CACHE) process.env.NODE_COMPILE_CACHE = cache.directory;
await import('./main.ts');
