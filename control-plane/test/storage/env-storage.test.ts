/** EnvStorage (JWT_SECRET, rotations in this process's memory) through the storage conformance suite. */
import { EnvStorage } from '../../src/storage/env-storage.ts';
import { runStorageConformance } from './conformance.ts';

runStorageConformance('env', () => {
  let storage = new EnvStorage(undefined);
  return {
    async reset(legacy) {
      storage = new EnvStorage(legacy);
    },
    // One process: every replica shares its memory.
    async open() {
      return storage;
    },
    snapshot: () => storage.load(),
  };
});
